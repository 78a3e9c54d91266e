"""Fixtures: a stand-in provider and a gateway in front of it (`pg_url` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.sim import SimServer


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer() as server:
        yield server


@pytest.fixture
async def gw(sim: SimServer, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await start_gateway(sim_settings(sim, f"sqlite:///{tmp_path / 'gw.db'}", tmp_path / "spool"), sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
def fixtures_root() -> Path:
    from majordomo_otel.sim import fixtures_dir

    return fixtures_dir()
