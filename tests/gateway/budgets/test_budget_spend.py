"""Spend is the rows' own cost: streamed or not, each provider family, to the row's 12 decimals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from _budget_helpers import INTERVAL, send
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.gateway.budgets import budget_usage, create_budget
from majordomo_otel.sim import SimServer

FAMILIES = ("openai", "anthropic", "gemini")


@pytest.fixture
async def pg_gw(sim: SimServer, tmp_path: Path, pg_url: str) -> AsyncIterator[Harness]:
    harness = await start_gateway(
        sim_settings(sim, pg_url, tmp_path / "spool", budget_refresh_interval=INTERVAL), sim=sim
    )
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


async def test_every_family_streamed_or_not_counts_what_its_rows_cost(
    pg_gw: Harness, http: aiohttp.ClientSession
) -> None:
    store = pg_gw.gateway.store
    for family in FAMILIES:
        await create_budget(store, family, {"provider": family, "feature": "spend"}, limit="100", window="month")
    await pg_gw.gateway.budgets.sync()
    for family in FAMILIES:
        for stream in (False, True):
            assert (
                await send(http, pg_gw.url, pg_gw.key, family=family, stream=stream, tags={"Feature": "spend"})
            ).status == 200
    records = await pg_gw.records(expected=6)
    await pg_gw.gateway.budgets.sync()
    rows: dict[str, Decimal] = {}
    for record in records:
        assert record.total_cost is not None
        rows[record.provider] = rows.get(record.provider, Decimal(0)) + record.total_cost
    spent = {use.budget.name: use.spent for use in await budget_usage(store)}
    assert (spent, sorted((r.provider, r.streamed) for r in records)) == (
        rows,
        sorted((family, stream) for family in FAMILIES for stream in (False, True)),
    )
