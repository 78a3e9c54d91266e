"""The database goes away (dead or hung): decisions continue from the last known totals, and no increment is
lost, not even across a restart while it is away. PostgreSQL is taken away with a TCP forwarder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from _budget_helpers import INTERVAL, serve, through, until_refused
from gateway_harness import FreezableProxy, sim_settings

from majordomo_otel.gateway.app import GATEWAY, Gateway
from majordomo_otel.gateway.budgets import budget_usage, create_budget
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.settings import Settings
from majordomo_otel.gateway.store import open_store
from majordomo_otel.sim import SimServer

RESEARCH = {"Feature": "research"}
LIMIT = "0.001"  # four requests use it up


@pytest.fixture
async def proxy() -> AsyncIterator[FreezableProxy]:
    async with FreezableProxy("127.0.0.1", 5432) as forwarder:
        yield forwarder


@pytest.fixture
def settings(sim: SimServer, tmp_path: Path, pg_url: str, proxy: FreezableProxy) -> Settings:
    """No auth: a gateway started while the database is away could not check a key it has never seen."""
    return sim_settings(
        sim, through(proxy.port, pg_url), tmp_path / "spool", budget_refresh_interval=INTERVAL, auth=False
    )


async def stored(gateway: Gateway, expected: int) -> list[RequestRecord]:
    """Every record, once the writer has them all in the database (spooled ones replay with a backoff)."""
    deadline = time.monotonic() + 15
    while True:
        await gateway.writer.flush()
        records = await gateway.store.get_records()
        if len(records) >= expected or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.1)


async def spent(pg_url: str) -> Decimal:
    store = open_store(pg_url)  # straight to the server, not through the forwarder
    await store.open()
    try:
        [use] = await budget_usage(store)
        return use.spent
    finally:
        await store.close()


@pytest.mark.parametrize("outage", ["dead", "hung"])
async def test_decisions_continue_from_the_last_totals_while_the_database_is_away(
    outage: str, settings: Settings, proxy: FreezableProxy, pg_url: str, http: aiohttp.ClientSession
) -> None:
    url, runner = await serve(settings)
    gateway = runner.app[GATEWAY]
    try:
        await create_budget(gateway.store, "research", "feature=research", limit=LIMIT, window="day")
        await gateway.budgets.sync()
        replies = await until_refused(http, url, None, RESEARCH, most=2)
        await gateway.budgets.sync()  # the database has those two
        if outage == "dead":
            await proxy.cut()
        else:
            proxy.freeze()
        started = time.monotonic()
        replies += await until_refused(http, url, None, RESEARCH)
        took = time.monotonic() - started
        proxy.thaw()
        await proxy.restore()
        await gateway.budgets.sync()
        records = await stored(gateway, expected=5)
    finally:
        proxy.thaw()
        await proxy.restore()
        await runner.cleanup()
    assert ([r.status for r in replies], took < 2) == ([200, 200, 200, 200, 429], True)
    assert await spent(pg_url) == sum(r.total_cost for r in records if r.total_cost is not None)


async def test_a_restart_while_the_database_is_away_keeps_enforcing_and_loses_no_increment(
    settings: Settings, proxy: FreezableProxy, pg_url: str, http: aiohttp.ClientSession
) -> None:
    url, runner = await serve(settings)
    try:
        await create_budget(runner.app[GATEWAY].store, "research", "feature=research", limit=LIMIT, window="day")
        await runner.app[GATEWAY].budgets.sync()
        await proxy.cut()
        before = await until_refused(http, url, None, RESEARCH)
    finally:
        await runner.cleanup()  # the database is still away: its increments go to the state file
    url, runner = await serve(settings)  # the same spool folder, the database still away
    try:
        after = await until_refused(http, url, None, RESEARCH, most=1)
        await proxy.restore()
        await runner.app[GATEWAY].budgets.sync()
        records = await stored(runner.app[GATEWAY], expected=6)
    finally:
        await runner.cleanup()
    costs = [r.total_cost for r in records if r.total_cost is not None]
    assert ([r.status for r in before], [r.status for r in after], len(costs)) == ([200] * 4 + [429], [429], 4)
    assert await spent(pg_url) == sum(costs)
