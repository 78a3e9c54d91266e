"""Fixtures of the budget tests: an open, migrated store of each kind, and a gateway that syncs often."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _budget_helpers import INTERVAL
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.gateway.store import Store, open_store
from majordomo_otel.sim import SimServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'budgets.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = open_store(database_url)
    await opened.open()
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def budget_gw(sim: SimServer, tmp_path: Path) -> AsyncIterator[Harness]:
    """A gateway on SQLite syncing its budgets every INTERVAL seconds."""
    settings = sim_settings(
        sim, f"sqlite:///{tmp_path / 'gw.db'}", tmp_path / "spool", budget_refresh_interval=INTERVAL
    )
    harness = await start_gateway(settings, sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()
