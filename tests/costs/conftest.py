"""A real SQLite file and a real PostgreSQL schema per test, migrated with the store's own code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_server import PG_DSN, drop_schema

from ._records import KNOWN_RECORDS, pg_execute, seed


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database on each store; the PostgreSQL schema is dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'costs.db'}"
        seed(url, [])
        yield url
        return
    schema = f"costs_{uuid.uuid4().hex[:16]}"
    asyncio.run(pg_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{PG_DSN}?schema={schema}"
        seed(url, [])
        yield url
    finally:
        asyncio.run(drop_schema(schema))


@pytest.fixture
def known_url(database_url: str) -> str:
    seed(database_url, KNOWN_RECORDS)
    return database_url
