"""`majordomo credentials`: keys in from stdin only, out as hints only, and a one-line error for every misuse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "operator-secret-0123456789-abcdef"


def _run(tmp_path: Path, *args: str, stdin: str = "", secret: str | None = SECRET) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAJORDOMO_")}
    env["MAJORDOMO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'm.db'}"
    if secret is not None:
        env["MAJORDOMO_SECRET_KEY"] = secret
    done = subprocess.run(
        [sys.executable, "-m", "majordomo_otel.cli", *args], env=env, input=stdin, capture_output=True, text=True
    )
    return done.returncode, done.stdout, done.stderr


def test_set_then_list_shows_only_the_hint(tmp_path: Path) -> None:
    code, out, _ = _run(tmp_path, "credentials", "set", "groq", stdin="gsk_live_0123456789abcdefWXYZ\n")
    assert (code, out) == (0, "stored groq key …WXYZ for every Majordomo key; running gateways use it within 5 s\n")
    code, out, _ = _run(tmp_path, "credentials", "list")
    [_, row] = out.splitlines()
    assert (code, row.split()[:4]) == (0, ["groq", "every", "key", "…WXYZ"])
    assert "gsk_live" not in out


def test_a_twin_api_stores_under_its_owner(tmp_path: Path) -> None:
    """Gemini's OpenAI-compatible endpoint takes the same Google key as Gemini's own API."""
    _, out, _ = _run(tmp_path, "credentials", "set", "gemini-openai", stdin="AIza-0123456789abcdefghij\n")
    assert out.startswith("stored gemini key …ghij")


def test_delete_removes_it(tmp_path: Path) -> None:
    _run(tmp_path, "credentials", "set", "openai", stdin="sk-0123456789abcdefghijkl\n")
    assert _run(tmp_path, "credentials", "delete", "openai")[:2] == (0, "deleted the stored openai key\n")
    assert _run(tmp_path, "credentials", "delete", "openai") == (1, "", "no stored openai key\n")


@pytest.mark.parametrize(
    ("args", "stdin", "secret", "message"),
    [
        (
            ("set", "cohere"),
            "k\n",
            SECRET,
            "unknown provider 'cohere': use one of openai, anthropic, gemini, gemini-openai, azure, groq, mistral, "
            "deepseek, xai, openrouter, together, fireworks",
        ),
        (("set", "openai"), "\n", SECRET, "no provider key on standard input: pipe it in"),
        (("set", "openai"), "sk-x\n", None, "MAJORDOMO_SECRET_KEY is not set: it encrypts stored provider keys"),
        (("set", "openai"), "sk-x\n", "short", "MAJORDOMO_SECRET_KEY must be at least 16 characters"),
        (
            ("set", "openai", "--for-key", "nope"),
            "sk-x\n",
            SECRET,
            "no Majordomo key 'nope': see `majordomo keys list`",
        ),
    ],
    ids=["unknown-provider", "empty-stdin", "no-secret", "short-secret", "unknown-key-id"],
)
def test_misuse_is_one_line_and_changes_nothing(
    tmp_path: Path, args: tuple[str, ...], stdin: str, secret: str | None, message: str
) -> None:
    code, out, err = _run(tmp_path, "credentials", *args, stdin=stdin, secret=secret)
    assert (code, out, len(err.splitlines()), err.startswith(f"majordomo credentials: {message}")) == (2, "", 1, True)
    listed = _run(tmp_path, "credentials", "list")[1].splitlines() if (tmp_path / "m.db").exists() else ["header"]
    assert listed[1:] == []


def test_list_in_an_empty_folder_creates_no_database(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, "credentials", "list")
    assert (code, (tmp_path / "m.db").exists(), len(err.splitlines())) == (2, False, 1)
