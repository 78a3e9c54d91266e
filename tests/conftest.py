"""Fixtures every test package may use: a fresh schema on the real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pg_server import PG_DSN, drop_schema


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A schema of our own on the real server, dropped afterwards. No server: the test fails, it never skips."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        yield schema
    finally:
        await drop_schema(schema)


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    """`postgresql://…?schema=<fresh>`: what `MAJORDOMO_DATABASE_URL` looks like for that schema."""
    return f"{PG_DSN}?schema={pg_schema}"
