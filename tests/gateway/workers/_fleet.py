"""Real `majordomo gateway` processes, real HTTP load through them, and the rows they left.

Shared by the workers tests (this folder) and the replicas tests (`../replicas/`, which loads this file by
path: test folders are not packages). A gateway runs as a user runs it, `python -m majordomo_otel.cli
gateway ...`, with its log in a file the test reads; the load is aiohttp at a fixed concurrency, JSON and
streamed chat, one new connection per request (so "the port keeps answering" means new connections are
served, whichever process the kernel or load balancer picks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from local_processes import free_port
from pg_server import PG_DSN

CLI = [sys.executable, "-m", "majordomo_otel.cli"]
CHAT = "/v1/chat/completions"
_MESSAGES = [{"role": "user", "content": "hi"}]
BODIES = (
    json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES}),
    json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES, "stream": True}),
)


def through(port: int, pg_url: str) -> str:
    """`pg_url` (with its ?schema=) pointed at a TcpProxy on `port` instead of the server."""
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any MAJORDOMO_* or OTLP endpoint of the developer's, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAJORDOMO_") and not k.startswith("OTEL_EXPORTER")}
    return env | values


class GatewayProcess:
    """One `majordomo gateway` process (with `--workers N`, the supervising parent) on its own port."""

    def __init__(self, log: Path, env: dict[str, str], *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.env = env | {"MAJORDOMO_PORT": str(self.port)}
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([*CLI, "gateway", *self.args], env=self.env, stdout=out, stderr=out)

    async def ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a start deadline
        """Until `/readyz` answers 200 (and, for a supervisor, its "workers listening" line is logged)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"gateway exited with {self.proc.returncode}:\n{self.log()}"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200 and ("--workers" not in self.args or "workers listening" in self.log()):
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"gateway not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def logged(self, pattern: str, *, count: int = 1, timeout: float = 20.0) -> list[re.Match[str]]:  # noqa: ASYNC109
        """The first `count` matches of `pattern` in the log, once there are that many."""
        deadline = time.monotonic() + timeout
        while True:
            found = list(re.finditer(pattern, self.log()))
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} x {pattern!r} not logged in {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.05)

    def workers(self) -> dict[int, int]:
        """Slot → pid of the supervisor's live worker processes (from /proc: its children and their argv)."""
        assert self.proc is not None
        found = {}
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in map(int, children):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a child reaped as we look
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"--slot" in argv and alive(pid):
                    found[int(argv[argv.index(b"--slot") + 1])] = pid
        return found

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 90.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM, then the exit code once it has drained."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self) -> None:
        """Leave nothing running, whatever the test did (a supervisor's workers stop when it is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def kill_and_wait(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL `pid` and wait until it is dead (gone, or a zombie its parent has not reaped yet)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"{pid} still alive after SIGKILL"
        time.sleep(0.005)


def alive(pid: int) -> bool:
    """Whether `pid` still runs (not gone, not a zombie waiting to be reaped)."""
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # reaped before the open, or between the open and the read
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


@dataclass
class LoadLog:
    """What the clients saw: each fully read 200 response (start time, request id, header `tag`) and each failure."""

    delivered: list[tuple[float, str, str]] = field(default_factory=list)
    failed: list[tuple[float, str]] = field(default_factory=list)
    refused: list[tuple[float, str]] = field(default_factory=list)  # answered, but not 200 (e.g. 401)

    @property
    def ids(self) -> set[str]:
        return {request_id for _, request_id, _ in self.delivered}

    def failed_after(self, moment: float) -> list[tuple[float, str]]:
        return [f for f in self.failed if f[0] >= moment]

    def tags_between(self, start: float, end: float = float("inf")) -> set[str]:
        return {tag for t, _, tag in self.delivered if start <= t < end}


class Load:
    """`concurrency` clients posting chat (JSON and streamed, alternately) to `url` until the block ends.

    `tag` names a response header to note with each delivery (HAProxy's replica header)."""

    def __init__(
        self, url: str, *, concurrency: int = 16, headers: dict[str, str] | None = None, tag: str = ""
    ) -> None:
        self.url = url
        self.concurrency = concurrency
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.tag = tag
        self.log = LoadLog()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Load:
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        self._http = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20))
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.concurrency)]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        assert self._http is not None
        await self._http.close()

    async def _client(self, n: int) -> None:
        assert self._http is not None
        body = BODIES[n % 2]
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                async with self._http.post(self.url + CHAT, data=body, headers=self.headers) as resp:
                    await resp.read()  # a stream is read to its end: the whole response reached the client
                    if resp.status == 200:
                        tag = resp.headers.get(self.tag, "") if self.tag else ""
                        self.log.delivered.append((started, resp.headers["X-Majordomo-Request-Id"], tag))
                    else:
                        self.log.refused.append((started, str(resp.status)))
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.log.failed.append((started, repr(exc)))
                await asyncio.sleep(0.01)


@dataclass(frozen=True)
class Database:
    """A database URL the gateways write to, and how the test reads back every record id in it."""

    url: str
    ids: Callable[[], Awaitable[list[str]]]


def sqlite_ids(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM llm_requests")]


async def pg_ids(pg_url: str) -> list[str]:
    """Every record id in `pg_url`'s schema, read from the server itself."""
    schema = urlsplit(pg_url).query.removeprefix("schema=")
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": schema})
    try:
        return [row["id"] for row in await conn.fetch("SELECT id::text AS id FROM llm_requests")]
    finally:
        await conn.close()


def ledger(delivered: set[str], ids: list[str]) -> dict[str, int]:
    """The counts a cost ledger answers for: delivered responses without a row, rows twice, rows in all."""
    return {"lost": len(delivered - set(ids)), "doubled": len(ids) - len(set(ids)), "delivered": len(delivered)}
