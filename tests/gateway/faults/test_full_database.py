"""The SQLite database's disk fills up: requests keep being answered, records wait in the spool (on another
disk), `/readyz` says the store is failing, and once space is back every record lands, once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiohttp
from _faults import FullDisk
from gateway_harness import sim_settings, start_gateway

from majordomo_otel.sim import SimServer

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


async def test_a_full_database_disk_spools_and_lands_every_record_once_space_is_back(
    sim: SimServer, http: aiohttp.ClientSession, full_disk: FullDisk, tmp_path: Path
) -> None:
    db = full_disk.path / "gw.db"
    harness = await start_gateway(sim_settings(sim, f"sqlite:///{db}", tmp_path / "spool"), sim=sim)
    writer = harness.gateway.writer
    ids: list[str] = []

    async def one() -> int:
        async with http.post(harness.url + CHAT, data=BODY, headers=harness.headers()) as resp:
            await resp.read()
            ids.append(resp.headers["X-Majordomo-Request-Id"])
            return resp.status

    try:
        assert await one() == 200
        assert await writer.flush() is True
        full_disk.fill()
        statuses = await asyncio.gather(*(one() for _ in range(300)))  # 300 rows need more pages than are free
        async with asyncio.timeout(10):
            while writer.stats()["store_ok"]:  # noqa: ASYNC110 - the writer's own counters
                await asyncio.sleep(0.01)
        async with http.get(harness.url + "/readyz") as resp:
            ready = (resp.status, (await resp.json())["status"])
        full_disk.free()
        assert await writer.flush(timeout=20) is True
    finally:
        await harness.runner.cleanup()
    stored = [row[0] for row in sqlite3.connect(db).execute("SELECT id FROM llm_requests")]
    assert (set(statuses), ready, len(stored), sorted(stored) == sorted(ids)) == ({200}, (200, "degraded"), 301, True)
