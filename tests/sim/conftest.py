from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from majordomo_otel.sim import SimServer


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw client that leaves bodies as sent (no gzip decoding)."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session
