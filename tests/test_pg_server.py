"""The suite's schema drop (every PostgreSQL test's teardown) never waits forever for a session left behind."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from pg_server import PG_DSN, drop_schema


async def test_a_schema_a_leftover_session_still_locks_is_dropped_and_the_session_named() -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_DSN)
    holder = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".t (x int)')
        await holder.execute(f'BEGIN; SELECT * FROM "{schema}".t')  # idle in transaction, holding its lock
        held = (
            rf"schema {schema} still locked after 100ms: ending pid {holder.get_server_pid()} \(idle in transaction: "
        )
        with pytest.warns(UserWarning, match=held):
            await drop_schema(schema, lock_wait="100ms")
        gone = await admin.fetchval("SELECT count(*) = 0 FROM pg_namespace WHERE nspname = $1", schema)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
        holder.terminate()
    assert gone


async def test_an_unlocked_schema_is_dropped_without_a_warning(recwarn: pytest.WarningsRecorder) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".t (x int)')
        await drop_schema(schema, lock_wait="100ms")
        gone = await admin.fetchval("SELECT count(*) = 0 FROM pg_namespace WHERE nspname = $1", schema)
    finally:
        await admin.close()
    assert (gone, [str(w.message) for w in recwarn]) == (True, [])
