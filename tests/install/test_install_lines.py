"""Each install line of the README, in a fresh virtual environment, then what it promises.

The package is built from this checkout once (a wheel) and each line installed with it in place of
PyPI's: `pip install "majordomo-otel[gateway]"` runs as `pip install "majordomo-otel[gateway] @ file://…whl"`
in a new `python -m venv` (nothing from this venv in it), the dependencies resolved as a user's would be,
from the configured index.
The three venvs are built concurrently, once per run, under a lock shared by the xdist workers.
The README's lines must be exactly these, so the docs and the tests cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

from local_processes import free_port

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
VENV_STEP = "python -m venv .venv && . .venv/bin/activate && pip install -U pip"  # old pips fail on OTel pins
DEV_LINE = 'pip install -e ".[dev]"'  # .ci/run's: tests/examples/test_readme.py keeps the two the same

#: the README's user install lines → the extras each installs
CLIENT = "pip install majordomo-otel"
GATEWAY = 'pip install "majordomo-otel[gateway]"'
POSTGRES = 'pip install "majordomo-otel[gateway,postgres]"'
LINES = {CLIENT: "", GATEWAY: "gateway", POSTGRES: "gateway,postgres"}

#: what the client install must not pull in (gateway, drivers, Logfire): it stays light
GATEWAY_MODULES = ["aiohttp", "asyncpg", "logfire", "orjson", "psycopg", "uvloop"]
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _install_blocks() -> list[list[str]]:
    """The commands of each code block of `## Install and run`, comments dropped."""
    section = README.read_text().split("\n## Install and run\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return [[line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()] for block in blocks]


def test_the_readme_install_lines_are_the_tested_ones() -> None:
    blocks = _install_blocks()
    installs = [line for block in blocks for line in block if line.startswith("pip install")]
    assert sorted(installs) == sorted([*LINES, DEV_LINE])
    assert [block[0] for block in blocks] == [VENV_STEP, VENV_STEP]  # every block starts in a venv


# -- the venvs --------------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """This environment minus the test venv and any exporter or gateway settings (pip's index settings stay)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"} and not k.startswith(("OTEL_", "MAJORDOMO_"))
    }
    return {**env, **extra}


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=300)


def _must(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{shlex.join(proc.args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _requirement(line: str, wheel: Path) -> str:
    """`pip install "majordomo-otel[x]"` → `majordomo-otel[x] @ file:///…/majordomo_otel-….whl`."""
    [name] = shlex.split(line)[2:]
    assert name == "majordomo-otel" + (f"[{LINES[line]}]" if LINES[line] else "")
    return f"{name} @ {wheel.as_uri()}"


def _build(venv: Path, requirement: str) -> None:
    """A new venv with `requirement` in it. Its pip is this one's (`pip --python`): seeding the venv's own
    (ensurepip) and that older pip's slower install cost ~10 s of CPU a venv; what is installed is the same.
    `--no-compile`: the .pyc files get written on first import instead (~2/3 of a new pip's install time)."""
    _must(_run([sys.executable, "-m", "venv", "--without-pip", str(venv)]))
    python = str(venv / "bin" / "python")
    _must(_run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile", requirement]))


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """README line → its venv's bin/ folder; built once per run, whichever xdist worker comes first."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "install-lines"
    shared.mkdir(exist_ok=True)
    bins = {line: shared / f"venv-{extras or 'client'}" / "bin" for line, extras in LINES.items()}
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done"
        if not done.exists():
            dist = shared / "dist"
            _must(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)]))
            [wheel] = dist.glob("majordomo_otel-*.whl")
            with ThreadPoolExecutor(len(LINES)) as pool:
                builds = [pool.submit(_build, bins[line].parent, _requirement(line, wheel)) for line in LINES]
                for build in builds:
                    build.result()
            done.touch()
    return bins


# -- client only ------------------------------------------------------------------------------------------

CLIENT_SCRIPT = f"""
import importlib.util, json, sys
import majordomo_otel
from majordomo_otel import pydantic_ai as guide

majordomo_otel.instrument()
with majordomo_otel.tags(feature="x", user_id="u-1"):
    tags = majordomo_otel.current_tags().headers()
    headers = guide.build_extra_headers_gemini(step="s")
    models = [
        type(m).__name__
        for m in (guide.create_model("openai"), guide.create_model("anthropic"), guide.create_model("gemini"),
                  guide.create_gemini_native_model())
    ]
majordomo_otel.uninstrument()
gateway = {GATEWAY_MODULES!r}
print(json.dumps({{
    "tags": tags, "headers": headers, "models": models,
    "loaded": sorted({{m.split(".")[0] for m in sys.modules}} & set(gateway)),
    "installed": [m for m in gateway if importlib.util.find_spec(m)],
}}))
"""


def test_client_only_imports_instruments_and_tags(venvs: dict[str, Path]) -> None:
    keys = {"MAJORDOMO_API_KEY": "mdm_sk_test", "OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "k"}
    out = subprocess.run(
        [str(venvs[CLIENT] / "python"), "-c", CLIENT_SCRIPT],
        capture_output=True,
        text=True,
        env=_env(**keys),
        timeout=120,
    )
    assert json.loads(_must(out)) == {
        "tags": {"X-Majordomo-Feature": "x", "X-Majordomo-User-Id": "u-1"},
        "headers": {"X-Majordomo-Key": "mdm_sk_test", "X-Majordomo-Step": "s", "X-Majordomo-Provider": "gemini-openai"},
        "models": ["OpenAIChatModel", "AnthropicModel", "OpenAIChatModel", "GoogleModel"],
        "loaded": [],
        "installed": [],
    }


def test_client_only_majordomo_help(venvs: dict[str, Path]) -> None:
    out = _must(_run([str(venvs[CLIENT] / "majordomo"), "--help"]))
    assert out.startswith("usage: majordomo ")
    assert "{gateway," in out


# -- gateway ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _process(argv: list[str], **env: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(**env))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@contextlib.contextmanager
def _sim(bin_dir: Path) -> Iterator[str]:
    """`majordomo sim --port 0` from that venv; its URL."""
    with _process([str(bin_dir / "majordomo"), "sim", "--port", "0"]) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"majordomo sim listening on (http://127\.0\.0\.1:\d+) \(\d+ fixtures\)\n", line)
        assert match, line + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        yield match[1]


def _one_request_through_the_gateway(bin_dir: Path, database_url: str, spool: Path) -> str:
    """`majordomo gateway --no-auth` in front of `majordomo sim`, one chat request, SIGTERM (drains the
    writer). The request id."""
    port = free_port()
    with _sim(bin_dir) as upstream:
        env = {
            "MAJORDOMO_DATABASE_URL": database_url,
            "MAJORDOMO_OPENAI_BASE_URL": upstream,
            "MAJORDOMO_PORT": str(port),
            "MAJORDOMO_SPOOL_DIR": str(spool),
        }
        with _process([str(bin_dir / "majordomo"), "gateway", "--no-auth"], **env) as proc:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "gateway not ready after 30 s"
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            reply = httpx.post(url + "/v1/chat/completions", json=CHAT, timeout=10)
            assert (reply.status_code, reply.json()["model"]) == (200, "gpt-4o-mini")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    return reply.headers["X-Majordomo-Request-Id"]


def test_gateway_on_sqlite_records_a_request(venvs: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "majordomo.db"
    request_id = _one_request_through_the_gateway(venvs[GATEWAY], f"sqlite:///{db}", tmp_path / "spool")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT id, model, pricing_status FROM llm_requests").fetchall()
    assert rows == [(request_id, "gpt-4o-mini", "priced")]


def test_gateway_without_postgres_says_which_extra_to_install(venvs: dict[str, Path], tmp_path: Path) -> None:
    """A postgresql:// URL on `[gateway]` alone: one line naming the extra, no traceback."""
    for command in (["gateway", "--no-auth"], ["migrate"]):
        argv = [str(venvs[GATEWAY] / "majordomo"), *command, "--database-url", "postgresql://postgres@127.0.0.1/test"]
        out = _run(argv, cwd=tmp_path)
        said = re.fullmatch(rf"majordomo(?: {command[0]})?: (.*)\n", out.stderr)  # the CLI's one-line error
        assert (out.returncode, out.stdout, said and said[1]) == (
            2,
            "",
            "PostgreSQL database URLs need the asyncpg driver, which is not installed: "
            'pip install "majordomo-otel[gateway,postgres]"',
        ), out.stderr


def test_gateway_runs_the_demo(venvs: dict[str, Path], tmp_path: Path) -> None:
    out = _must(_run([str(venvs[GATEWAY] / "majordomo"), "demo"], cwd=tmp_path))
    assert "Done in" in out


# -- gateway + PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_gateway_on_postgres_records_a_request(venvs: dict[str, Path], pg_url: str, tmp_path: Path) -> None:
    request_id = await asyncio.to_thread(_one_request_through_the_gateway, venvs[POSTGRES], pg_url, tmp_path / "s")
    dsn, schema = pg_url.split("?schema=")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT id::text, model, pricing_status FROM llm_requests")
    finally:
        await conn.close()
    assert [tuple(row) for row in rows] == [(request_id, "gpt-4o-mini", "priced")]
