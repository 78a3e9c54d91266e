"""A fresh PostgreSQL schema per test, on the real server (no server: the test fails, never skips)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{PG_DSN}?schema={schema}"
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
