"""Spend and limit per budget as OTel gauges, never with a user id on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _budget_helpers import INTERVAL, send
from gateway_harness import CapturedMetrics, Harness, metric_points, sim_settings, start_gateway
from opentelemetry.sdk.metrics.export import MetricsData

from majordomo_otel.gateway.budgets import create_budget
from majordomo_otel.sim import SimServer

COST = 0.00030285  # one request (see _budget_helpers)


@pytest.fixture
async def metered(sim: SimServer, tmp_path: Path) -> AsyncIterator[tuple[Harness, CapturedMetrics]]:
    reader = CapturedMetrics()
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", budget_refresh_interval=INTERVAL)
    harness = await start_gateway(settings, sim=sim, metric_exporter=reader)
    try:
        yield harness, reader
    finally:
        await harness.runner.cleanup()


def gauges(data: MetricsData) -> dict[tuple[str, str], Any]:
    found = {}
    for name, point in metric_points(data):
        if name.startswith("majordomo.budget."):
            attrs = dict(point.attributes)
            found[(name, attrs.pop("majordomo.budget"))] = (round(point.value, 12), attrs)
    return found


async def test_each_budget_reports_its_spend_limit_and_values_over_it(
    metered: tuple[Harness, CapturedMetrics], http: aiohttp.ClientSession
) -> None:
    gw, reader = metered
    await create_budget(gw.gateway.store, "research", "feature=research", limit="0.5", window="day")
    await create_budget(gw.gateway.store, "per-user", "user_id=*", limit="0.0005", window="week", mode="warn")
    await gw.gateway.budgets.sync()
    for user in ("alice", "alice", "bob"):
        assert (await send(http, gw.url, gw.key, tags={"Feature": "research", "User-Id": user})).status == 200
    await gw.records(expected=3)
    day = {"majordomo.budget.window": "day", "majordomo.budget.mode": "block"}
    week = {"majordomo.budget.window": "week", "majordomo.budget.mode": "warn"}
    assert gauges(gw.metrics(reader)) == {
        ("majordomo.budget.spend", "research"): (round(3 * COST, 12), day),
        ("majordomo.budget.limit", "research"): (0.5, day),
        ("majordomo.budget.over_limit", "research"): (0, day),
        ("majordomo.budget.spend", "per-user"): (round(2 * COST, 12), week),  # alice's, the costliest value
        ("majordomo.budget.limit", "per-user"): (0.0005, week),
        ("majordomo.budget.over_limit", "per-user"): (1, week),
    }
