"""Fixtures: a stand-in provider, a gateway in front of it, a fresh PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from gateway_harness import PG_DSN, Harness, sim_settings, start_gateway

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
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema on the real server, dropped afterwards. No server: the test fails."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{PG_DSN}?schema={schema}"
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
def fixtures_root() -> Path:
    from majordomo_otel.sim import fixtures_dir

    root = fixtures_dir()
    assert root is not None, "provider fixtures not found beside the repo (../shared/provider-fixtures)"
    return root
