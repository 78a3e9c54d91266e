"""Fixtures of the workers tests: the stand-in upstream in a thread, and each store a supervisor may write to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _fleet import Database, pg_ids, sqlite_ids

from majordomo_otel.sim import SimServer


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread(record=False) as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """SQLite (several worker processes writing one file) or PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        db = tmp_path / "gw.db"

        async def from_sqlite() -> list[str]:
            return sqlite_ids(db)

        return Database(f"sqlite:///{db}", from_sqlite)
    pg_url: str = request.getfixturevalue("pg_url")

    async def from_postgres() -> list[str]:
        return await pg_ids(pg_url)

    return Database(pg_url, from_postgres)
