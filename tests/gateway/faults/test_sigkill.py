"""SIGKILL of a loaded gateway at random moments: every response a client fully read has its row, once.

The gateway runs as a real process (`majordomo gateway`), the load is real HTTP at concurrency 32
(JSON and streamed chat), and the kill comes at a random moment 0.3-1.2 s into the load, five times in
a row on the same journal and spool folder. One clean start afterwards replays what the killed
processes journaled, and SIGTERM then drains it into the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from local_processes import free_port
from majordomo_otel.sim import SimServer

ROUNDS = 5
CONCURRENCY = 32
CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]
JSON_BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True})


class Gateway:
    """`majordomo gateway --no-auth` as a child process on a fixed port, database and spool folder."""

    def __init__(self, database_url: str, upstream: str, spool: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "MAJORDOMO_DATABASE_URL": database_url,
            "MAJORDOMO_OPENAI_BASE_URL": upstream,
            "MAJORDOMO_PORT": str(self.port),
            "MAJORDOMO_SPOOL_DIR": str(spool),
            "MAJORDOMO_JOURNAL": "on",  # the default; `bench/soak_kill.py --journal off` shows what it saves
        }
        self.env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "majordomo_otel.cli", "gateway", "--no-auth"]
        return subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def start(self) -> None:
        self.proc = self._spawn()
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("gateway not ready after 30 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> tuple[int, str]:
        """SIGTERM; the exit code and what it said on stderr."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        return code, self.proc.stderr.read().decode() if self.proc.stderr else ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def _load_until_killed(gateway: Gateway, rng: random.Random) -> set[str]:
    """Load at CONCURRENCY, SIGKILL the gateway at a random moment; ids of the responses read to the end."""
    delivered: set[str] = set()
    killed = asyncio.Event()

    async def client(n: int, http: aiohttp.ClientSession) -> None:
        body = STREAM_BODY if n % 2 else JSON_BODY
        while not killed.is_set():
            try:
                async with http.post(gateway.url + CHAT, data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()  # a stream is read to its terminating chunk: the whole response reached us
                    if r.status == 200:
                        delivered.add(r.headers["X-Majordomo-Request-Id"])
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.01)

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
        tasks = [asyncio.create_task(client(n, http)) for n in range(CONCURRENCY)]
        await asyncio.sleep(rng.uniform(0.3, 1.2))
        await asyncio.to_thread(gateway.kill)
        killed.set()
        await asyncio.gather(*tasks)
    return delivered


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread() as server:
        yield server


async def _kill_rounds(database_url: str, sim: SimServer, spool: Path) -> tuple[set[str], int, str]:
    rng = random.Random(8)
    delivered: set[str] = set()
    gateway = Gateway(database_url, sim.url, spool)
    try:
        for _ in range(ROUNDS):
            await gateway.start()
            delivered |= await _load_until_killed(gateway, rng)
        await gateway.start()  # replays the killed processes' journals
        code, stderr = gateway.stop()
    finally:
        gateway.close()
    return delivered, code, stderr


async def test_sigkill_under_load_loses_no_delivered_record_on_sqlite(sim: SimServer, tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    delivered, code, stderr = await _kill_rounds(f"sqlite:///{db}", sim, tmp_path / "spool")
    ids = [row[0] for row in sqlite3.connect(db).execute("SELECT id FROM llm_requests")]
    lost = delivered - set(ids)
    assert (code, len(lost), len(ids) - len(set(ids))) == (0, 0, 0), stderr
    assert len(delivered) > ROUNDS * CONCURRENCY  # the load really ran in every round


@pytest.mark.postgres
async def test_sigkill_under_load_loses_no_delivered_record_on_postgres(
    sim: SimServer, tmp_path: Path, pg_url: str, pg_schema: str
) -> None:
    delivered, code, stderr = await _kill_rounds(pg_url, sim, tmp_path / "spool")
    conn = await asyncpg.connect(pg_url.split("?")[0])
    try:
        ids = [row["id"] for row in await conn.fetch(f'SELECT id FROM "{pg_schema}".llm_requests')]
    finally:
        await conn.close()
    lost = delivered - {str(i) for i in ids}
    assert (code, len(lost), len(ids) - len(set(ids))) == (0, 0, 0), stderr
    assert len(delivered) > ROUNDS * CONCURRENCY
