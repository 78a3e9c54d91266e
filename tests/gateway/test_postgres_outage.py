"""PostgreSQL goes away under load: every proxied request still succeeds, and once it is back every record lands
exactly once. The database is cut with a TCP forwarder, so the real server other tests share keeps running."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from gateway_harness import Harness, TcpProxy, sim_settings, start_gateway

from majordomo_otel.gateway.app import GATEWAY, create_app, runner_options
from majordomo_otel.gateway.settings import Settings
from majordomo_otel.gateway.store import open_store
from majordomo_otel.sim import SimServer
from pg_server import PG_DSN

TOTAL = 600
CONCURRENCY = 32
CUT_AT, RESTORE_AT = TOTAL // 3, 2 * TOTAL // 3
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
# (path, body, extra headers): JSON and streams, two providers.
VARIANTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("/v1/chat/completions", CHAT_BODY, {}),
    ("/v1/chat/completions", {**CHAT_BODY, "stream": True, "stream_options": {"include_usage": True}}, {}),
    (
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 50, "stream": True, "messages": CHAT_BODY["messages"]},
        {"anthropic-version": "2023-06-01"},
    ),
]


def through(proxy_port: int, url: str) -> str:
    """`url` (with its ?schema=) pointed at the forwarder instead of the server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy_port}"))


async def stored_ids(pg_url: str) -> list[str]:
    """Every record id in the schema, read straight from the server (not through the gateway or forwarder)."""
    schema = urlsplit(pg_url).query.removeprefix("schema=")
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": schema})
    try:
        return [row["id"] for row in await conn.fetch("SELECT id::text AS id FROM llm_requests")]
    finally:
        await conn.close()


async def direct_bodies(sim: SimServer, http: aiohttp.ClientSession) -> list[bytes]:
    """What each variant's full body is when asked of the sim directly (its replies are deterministic)."""
    bodies = []
    for path, body, headers in VARIANTS:
        async with http.post(sim.url + path, data=json.dumps(body), headers=headers) as resp:
            assert resp.status == 200
            bodies.append(await resp.read())
    sim.clear()
    return bodies


@dataclass
class LoadRun:
    request_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    readyz_during_cut: list[dict[str, Any]] = field(default_factory=list)
    done: int = 0


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[Any]:
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        yield proxy


@pytest.fixture
async def pg_gw(sim: SimServer, tmp_path: Path, pg_url: str, tcp_proxy: Any) -> AsyncIterator[Harness]:
    settings = sim_settings(sim, through(tcp_proxy.port, pg_url), tmp_path / "spool")
    harness = await start_gateway(settings, sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


async def _send(gw: Harness, http: aiohttp.ClientSession, index: int, expected: list[bytes], run: LoadRun) -> None:
    path, body, headers = VARIANTS[index % len(VARIANTS)]
    async with http.post(gw.url + path, data=json.dumps(body), headers=gw.headers(**headers)) as resp:
        got = await resp.read()
        run.request_ids.append(resp.headers.get("X-Majordomo-Request-Id", "missing"))
        if (resp.status, got) != (200, expected[index % len(VARIANTS)]):
            run.failures.append(f"request {index}: status {resp.status}, {len(got)} bytes")


async def _readyz(gw: Harness, http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get(gw.url + "/readyz") as resp:
        return {"http_status": resp.status, **(await resp.json())}


async def _drive(gw: Harness, http: aiohttp.ClientSession, proxy: Any, expected: list[bytes]) -> LoadRun:
    """TOTAL requests, CONCURRENCY at a time; the database is cut after CUT_AT and restored after RESTORE_AT
    have completed. Before restoring, /readyz must have shown records waiting in the spool."""
    run = LoadRun()
    queue = iter(range(TOTAL))
    cut, restore = asyncio.Event(), asyncio.Event()

    async def worker() -> None:
        for index in queue:
            await _send(gw, http, index, expected, run)
            run.done += 1
            if run.done == CUT_AT:
                cut.set()
            if run.done == RESTORE_AT:
                restore.set()

    async def outage() -> None:
        await cut.wait()
        await proxy.cut()
        await restore.wait()
        async with asyncio.timeout(5):
            while True:
                sample = await _readyz(gw, http)
                run.readyz_during_cut.append(sample)
                if sample["writer"]["spool_depth"] > 0:
                    break
                await asyncio.sleep(0.01)
        await proxy.restore()

    async with asyncio.timeout(60):
        await asyncio.gather(outage(), *(worker() for _ in range(CONCURRENCY)))
    return run


async def test_requests_survive_a_database_outage_and_land_exactly_once(
    pg_gw: Harness, http: aiohttp.ClientSession, tcp_proxy: Any, pg_url: str
) -> None:
    expected = await direct_bodies(pg_gw.sim, http)
    run = await _drive(pg_gw, http, tcp_proxy, expected)

    assert (run.failures, len(run.request_ids)) == ([], TOTAL)
    assert not tcp_proxy.is_cut
    spooled = run.readyz_during_cut[-1]
    # still ready (200): it serves and keeps every record in the spool; a load balancer must not drop it
    assert (
        spooled["http_status"],
        spooled["status"],
        spooled["store"]["ok"],
        spooled["spool"]["writable"],
        spooled["writer"]["store_ok"],
    ) == (200, "degraded", False, True, False)
    assert spooled["writer"]["spool_depth"] > 0

    assert await pg_gw.gateway.writer.flush(timeout=20) is True
    ids = await stored_ids(pg_url)
    assert (len(ids), len(set(ids))) == (TOTAL, TOTAL)
    assert set(ids) == set(run.request_ids)
    after = await _readyz(pg_gw, http)
    assert (after["http_status"], after["status"], after["writer"]) == (
        200,
        "ok",
        {**after["writer"], "queue_depth": 0, "spool_depth": 0, "store_ok": True, "records_rejected": 0},
    )


async def test_gateway_started_while_the_database_is_down_serves_and_lands_records(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession, tcp_proxy: Any, pg_url: str
) -> None:
    """DESIGN: requests keep flowing while the database is away, so that includes a gateway (re)started during
    the outage. Auth is off here: a fresh process has no cached key and cannot check one until the database
    answers (KeyCache answers 503 then, by design); what is under test is startup and recording."""
    store = open_store(pg_url)
    await store.open()
    await store.migrate()  # the schema exists from an earlier run
    await store.close()
    await tcp_proxy.cut()
    settings = sim_settings(sim, through(tcp_proxy.port, pg_url), tmp_path / "spool", auth=False)
    runner = await _serve(settings)
    try:
        url = _url_of(runner)
        ids = []
        for _ in range(5):
            async with http.post(url + "/v1/chat/completions", json=CHAT_BODY) as resp:
                assert resp.status == 200
                ids.append(resp.headers["X-Majordomo-Request-Id"])
        await tcp_proxy.restore()
        assert await runner.app[GATEWAY].writer.flush(timeout=20) is True
        assert sorted(await stored_ids(pg_url)) == sorted(ids)
    finally:
        await runner.cleanup()


async def _serve(settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(create_app(settings), **runner_options(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _url_of(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


async def test_schema_is_created_once_a_database_that_was_down_at_start_returns(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession, tcp_proxy: Any, pg_url: str
) -> None:
    await tcp_proxy.cut()  # an empty schema, unreachable at start: migrate must be retried later
    settings = sim_settings(sim, through(tcp_proxy.port, pg_url), tmp_path / "spool", auth=False)
    runner = await _serve(settings)
    try:
        async with http.post(_url_of(runner) + "/v1/chat/completions", json=CHAT_BODY) as resp:
            assert resp.status == 200
            request_id = resp.headers["X-Majordomo-Request-Id"]
        await tcp_proxy.restore()
        assert await runner.app[GATEWAY].writer.flush(timeout=20) is True
        assert await stored_ids(pg_url) == [request_id]
    finally:
        await runner.cleanup()


async def test_known_keys_keep_working_and_unknown_keys_get_503_while_the_database_is_down(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession, tcp_proxy: Any, pg_url: str
) -> None:
    settings = sim_settings(sim, through(tcp_proxy.port, pg_url), tmp_path / "spool")
    gw = await start_gateway(settings, sim=sim)
    try:
        async with http.post(gw.url + "/v1/messages", json=CHAT_BODY, headers=gw.headers()) as resp:
            assert resp.status == 200  # the key is now cached
        await tcp_proxy.cut()
        async with http.post(gw.url + "/v1/messages", json=CHAT_BODY, headers=gw.headers()) as resp:
            assert resp.status == 200
        unknown = {"X-Majordomo-Key": "mdm_sk_never-seen-before-0000000000000000000"}
        async with http.post(gw.url + "/v1/messages", json=CHAT_BODY, headers=unknown) as resp:
            assert (resp.status, await resp.json()) == (
                503,
                {
                    "type": "error",
                    "error": {
                        "type": "overloaded_error",
                        "message": "majordomo gateway: key store unavailable; retry shortly",
                    },
                },
            )
        await tcp_proxy.restore()
    finally:
        await gw.runner.cleanup()
