"""Real stores: a SQLite file in tmp_path, and a fresh PostgreSQL schema per test (`pg_schema`/`pg_url`,
from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from majordomo_otel.gateway.store import Store, open_store


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'majordomo.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An opened, migrated store of each kind."""
    s = open_store(store_url)
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()
