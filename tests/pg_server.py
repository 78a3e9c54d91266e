"""The PostgreSQL server every PostgreSQL test uses: the one on this machine (CI starts it; never skipped)."""

from __future__ import annotations

import warnings

import asyncpg

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

_HOLDERS = """
    SELECT DISTINCT l.pid, a.state, left(a.query, 120)
    FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()
    ORDER BY l.pid
"""


async def drop_schema(schema: str, *, lock_wait: str = "10s") -> None:
    """Drop a test's schema without waiting forever.

    `DROP SCHEMA … CASCADE` waits for every lock on the schema's tables, and nothing bounds that wait by
    default: one session a test left behind (a killed gateway's backend the server has not noticed yet, a
    connection held open by a frozen forwarder) would hang the run until CI's limit. After `lock_wait` the holders are
    ended and named in a warning, so the leak is visible and the run goes on.
    """
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"SET lock_timeout = '{lock_wait}'")
        for _ in range(3):
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                return
            except asyncpg.LockNotAvailableError:
                holders = await conn.fetch(_HOLDERS, schema)
                named = "; ".join(f"pid {pid} ({state}: {query})" for pid, state, query in holders)
                warnings.warn(f"schema {schema} still locked after {lock_wait}: ending {named}", stacklevel=1)
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [h[0] for h in holders]
                )
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
