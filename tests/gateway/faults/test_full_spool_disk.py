"""Database away and the spool's disk full: the writer survives, the gateway says it cannot keep records,
and once either comes back every record lands; SIGTERM-style shutdown still says where records went."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from _faults import FullDisk, through
from gateway_harness import raw_post, sim_settings, start_gateway

from majordomo_otel.sim import SimServer

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


async def test_db_down_and_spool_full_then_back_loses_nothing(
    sim: SimServer, http: aiohttp.ClientSession, tcp_proxy: Any, pg_url: str, full_disk: FullDisk
) -> None:
    harness = await start_gateway(sim_settings(sim, through(tcp_proxy.port, pg_url), full_disk.path / "spool"), sim=sim)
    writer = harness.gateway.writer
    try:
        async with http.post(harness.url + CHAT, data=BODY, headers=harness.headers()) as resp:
            ids = [resp.headers["X-Majordomo-Request-Id"]]  # and the key is now known to this gateway
        assert await writer.flush() is True
        await tcp_proxy.cut()
        full_disk.fill()
        # a raw 0xff in a tag header once poisoned the spool's encoding of a whole batch
        head = b"X-Majordomo-Key: " + harness.key.encode() + b"\r\nX-Majordomo-User-Id: bad\xff"
        assert await raw_post(harness.url, CHAT, head, BODY.encode()) == 200

        async def one() -> None:
            async with http.post(harness.url + CHAT, data=BODY, headers=harness.headers()) as resp:
                assert resp.status == 200
                await resp.read()
                ids.append(resp.headers["X-Majordomo-Request-Id"])

        await asyncio.gather(*(one() for _ in range(200)))
        async with asyncio.timeout(10):
            while writer.stats()["stranded"] < 201:  # noqa: ASYNC110 - the writer's own counters
                await asyncio.sleep(0.01)
        async with http.get(harness.url + "/readyz") as resp:
            during = (resp.status, await resp.json())
        assert (during[0], during[1]["status"], during[1]["spool"]["writable"], during[1]["writer"]["alive"]) == (
            503,
            "failing",
            False,
            True,
        )

        await tcp_proxy.restore()
        full_disk.free()
        assert await writer.flush(timeout=20) is True
        stored = await harness.gateway.store.get_records()
        assert (
            len(stored),
            set(ids) <= {r.id for r in stored},
            [r.raw_metadata for r in stored if r.raw_metadata],
            writer.stats()["stranded"],
            writer.stats()["alive"],
        ) == (202, True, [{"User-Id": "bad\ufffd"}], 0, True)
    finally:
        await harness.runner.cleanup()
