"""Every example runs offline (no keys: a local gateway in front of the stand-in) and its records carry its tags."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from majordomo_otel.demo import LocalStack, local_stack

EXAMPLES = Path(__file__).parents[2] / "examples"

# (provider, feature, step, user, session) of every record, in request order
EXPECTED: dict[str, list[tuple[str, str | None, str | None, str | None, str | None]]] = {
    "quick_start": [("anthropic", "my-agent", "main", None, None)],
    "migrate_direct_access": [("anthropic", "my-agent", None, None, None)],
    "migrate_from_proxy": [("anthropic", "my-agent", None, None, None)] * 2,
    "model_settings": [("anthropic", "research-agent", "analysis", "user-123", None)] * 2,
    "providers": [
        ("anthropic", "chat", None, None, None),
        ("openai", "chat", None, None, None),
        ("gemini-openai", "chat", None, None, None),
        ("gemini", "chat", None, None, None),
    ],
    "extended_thinking": [("anthropic", "reasoning", None, None, None)],
    "prompt_caching": [("anthropic", "policy-qa", "answer", None, "trip-42")] * 2,
    "per_user_tracking": [
        ("openai", "document-qa", None, "alice", None),
        ("openai", "document-qa", None, "bob", "bob-session"),
        ("openai", "document-qa", None, "carol", "carol-session"),
    ],
    "multi_step_workflow": [
        ("anthropic", "research", "query-gen", None, None),
        ("anthropic", "research", "query-gen", None, None),
        ("openai", "research", "synthesis", None, None),
        ("anthropic", "research", "query-gen", "user-123", None),
        ("anthropic", "research", "query-gen", "user-123", None),
        ("openai", "research", "synthesis", "user-123", None),
    ],
}
_TAGS_SQL = (
    "SELECT provider, raw_metadata->>'Feature', raw_metadata->>'Step', raw_metadata->>'User-Id', "
    "raw_metadata->>'Session-Id' FROM llm_requests ORDER BY requested_at, id"
)


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    db: Path


def _offline_env(db: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAJORDOMO_", "OTEL_"))
        and k not in {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"}
    }
    return env | {"MAJORDOMO_EXAMPLES_DB": str(db)}


def _run(script: Path, env: dict[str, str], db: Path) -> Ran:
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    return Ran(proc.returncode, proc.stdout, proc.stderr, db)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """All examples, offline, a few at a time (each is its own process, as a user runs it)."""
    root = tmp_path_factory.mktemp("examples")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(_run, EXAMPLES / f"{name}.py", _offline_env(root / f"{name}.db"), root / f"{name}.db")
            for name in EXPECTED
        }
        return {name: future.result() for name, future in futures.items()}


def _tags(db: Path) -> list[tuple[str | None, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(_TAGS_SQL).fetchall()


def test_every_guide_section_has_an_example() -> None:
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    assert scripts == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example_runs_offline(runs: dict[str, Ran], name: str) -> None:
    ran = runs[name]
    assert (ran.returncode, ran.stderr, ran.stdout.split(" (")[0]) == (0, "", "offline: a local gateway")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example_records_carry_its_tags(runs: dict[str, Ran], name: str) -> None:
    assert _tags(runs[name].db) == EXPECTED[name]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example_requests_are_all_priced(runs: dict[str, Ran], name: str) -> None:
    with sqlite3.connect(runs[name].db) as conn:
        statuses = [s for (s,) in conn.execute("SELECT pricing_status FROM llm_requests")]
    assert statuses == ["priced"] * len(EXPECTED[name])


@pytest.fixture
def online_gateway(tmp_path: Path) -> Iterator[LocalStack]:
    """A gateway reachable by URL + key, as a user's would be (here in front of the stand-in)."""
    with local_stack(tmp_path / "online.db") as stack:
        yield stack


def test_with_keys_set_an_example_uses_the_configured_gateway(online_gateway: LocalStack) -> None:
    env = _offline_env(Path("unused")) | online_gateway.client_environ()
    del env["MAJORDOMO_EXAMPLES_DB"]
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "quick_start.py")], capture_output=True, text=True, timeout=120, env=env
    )
    online_gateway.flush()
    assert (proc.returncode, proc.stdout.splitlines()[0], _tags(online_gateway.db_path)) == (
        0,
        f"using the gateway at {online_gateway.url} and the real providers",
        EXPECTED["quick_start"],
    )
