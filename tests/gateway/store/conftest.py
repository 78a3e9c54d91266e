"""Real stores: a SQLite file in tmp_path, and a fresh schema on the shared PostgreSQL server per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from _store_helpers import PG_DSN

from majordomo_otel.gateway.store import Store, open_store


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A schema of our own on the real server, dropped afterwards. No server: the test fails."""
    schema = f"store_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'majordomo.db'}"


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    return f"{PG_DSN}?schema={pg_schema}"


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
