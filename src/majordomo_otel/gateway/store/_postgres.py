"""PostgreSQL sink on asyncpg: one statement per batch, idempotent by record id.

Insert methods (bench/bench_store.py measures them). Four runs on the shared 2-core dev machine, under
load from other work, records/s, batch 50 / batch 500:

* `executemany` (default): one single-row `INSERT ... ON CONFLICT (id) DO NOTHING` prepared once; asyncpg
  pipelines every row's Bind/Execute in one round trip, in one transaction. 12.6k-19.7k / 10.8k-25.6k.
* `unnest`: `INSERT ... SELECT * FROM unnest($1::uuid[], ...)`, one array per column.
  7.8k-20.7k / 11.6k-17.5k.
* `copy`: binary COPY into a per-connection temp table, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING`.
  6.5k-18.8k / 15.0k-35.0k (fastest at 500 on a quiet run, slowest at 50).

The ranges overlap (the machine is noisy); `executemany` won most runs at 50 and 500 and is the simplest
(no array casts, no temp table per connection), so it is the default. All three are far above a single
gateway's request rate.
At batch size 1 every method is bound by the server's commit fsync (a few hundred records/s), which is
why the writer batches.

The pool starts empty (`min_size=0`) so opening a store never needs the server: a gateway can start while
the database is down and its writer spools until it returns.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import asyncpg

from majordomo_otel._redact import hide_password
from majordomo_otel.gateway.record import COLUMNS, RequestRecord
from majordomo_otel.gateway.store._base import ApiKey, Dialect
from majordomo_otel.gateway.store._codec import as_utc
from majordomo_otel.gateway.store._schema import (
    LLM_REQUEST_COLUMNS,
    SCHEMA_VERSION,
    migration_statements,
    pending_versions,
    version_table,
)

InsertMethod = Literal["unnest", "executemany", "copy"]

_ARRAY_TYPES = {
    "UUID": "uuid",
    "TEXT": "text",
    "TIMESTAMPTZ": "timestamptz",
    "DOUBLE PRECISION": "float8",
    "BOOLEAN": "bool",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "NUMERIC(20,12)": "numeric",
    "JSONB": "text",  # sent as JSON text, cast in the SELECT
}


def _array_type(pg: str) -> str:
    for prefix, name in _ARRAY_TYPES.items():
        if pg.startswith(prefix):
            return name
    raise ValueError(pg)  # pragma: no cover


_COLS = ", ".join(COLUMNS)
_INSERT_ONE = (
    f"INSERT INTO llm_requests ({_COLS}) VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))}) "
    "ON CONFLICT (id) DO NOTHING"
)
_INSERT_UNNEST = (
    f"INSERT INTO llm_requests ({_COLS}) SELECT "
    + ", ".join(f"u.{c.name}::jsonb" if c.pg.startswith("JSONB") else f"u.{c.name}" for c in LLM_REQUEST_COLUMNS)
    + " FROM unnest("
    + ", ".join(f"${i + 1}::{_array_type(c.pg)}[]" for i, c in enumerate(LLM_REQUEST_COLUMNS))
    + f") AS u({_COLS}) ON CONFLICT (id) DO NOTHING"
)
_STAGE = "majordomo_stage_llm_requests"
_CREATE_STAGE = f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE llm_requests INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_INSERT_STAGE = f"INSERT INTO llm_requests ({_COLS}) SELECT {_COLS} FROM {_STAGE} ON CONFLICT (id) DO NOTHING"
_SELECT = f"SELECT {_COLS} FROM llm_requests"
_KEY_COLS = "id, name, key_hash, key_hint, created_at, revoked_at"
_JSON_INDEX = COLUMNS.index("raw_metadata")
_TIME_INDEXES = (COLUMNS.index("requested_at"), COLUMNS.index("responded_at"))


def record_params(record: RequestRecord) -> list[Any]:
    values = [getattr(record, name) for name in COLUMNS]
    values[_JSON_INDEX] = json.dumps(values[_JSON_INDEX], ensure_ascii=False, separators=(",", ":"))
    for i in _TIME_INDEXES:
        if values[i] is not None:
            values[i] = as_utc(values[i])
    return values


def row_record(row: asyncpg.Record) -> RequestRecord:
    kwargs = dict(row.items())
    kwargs["id"] = str(kwargs["id"])
    kwargs["raw_metadata"] = json.loads(kwargs["raw_metadata"])
    return RequestRecord(**kwargs)


def _key_from_row(row: asyncpg.Record) -> ApiKey:
    return ApiKey(**dict(row.items()))


class PostgresStore:
    """`postgresql://user@host:port/db`; `schema` (or `?schema=` in the URL) sets the search_path."""

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        insert_method: InsertMethod = "executemany",
        max_connections: int = 4,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.insert_method: InsertMethod = insert_method
        self.display_url = hide_password(dsn) + (f" (schema {schema})" if schema else "")
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresStore is not open")
        return self._pool

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"application_name": "majordomo-gateway"}
        if self.schema:
            settings["search_path"] = self.schema
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self._max_connections,
            timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
            server_settings=settings,
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except Exception:  # a dead server: drop the connections without the goodbye
                pool.terminate()

    async def migrate(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            # Serialise concurrent migrators (several gateway replicas starting at once), per schema.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('majordomo-migrate:' || current_schema()))")
            await conn.execute(version_table("postgresql"))
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM majordomo_schema_version")
            for version in pending_versions(current):
                for stmt in migration_statements("postgresql", version):
                    await conn.execute(stmt)
                await conn.execute("INSERT INTO majordomo_schema_version (version) VALUES ($1)", version)
        return SCHEMA_VERSION

    async def write_batch(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        rows = [record_params(r) for r in records]
        async with self.pool.acquire() as conn:
            if self.insert_method == "unnest":
                await conn.execute(_INSERT_UNNEST, *[list(col) for col in zip(*rows, strict=True)])
            elif self.insert_method == "executemany":
                async with conn.transaction():
                    await conn.executemany(_INSERT_ONE, rows)
            else:
                async with conn.transaction():
                    await conn.execute(_CREATE_STAGE)
                    await conn.copy_records_to_table(_STAGE, records=rows, columns=COLUMNS)
                    await conn.execute(_INSERT_STAGE)

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=self._connect_timeout) as conn:
                return await conn.fetchval("SELECT 1", timeout=self._connect_timeout) == 1
        except Exception:
            return False

    def is_permanent_error(self, exc: BaseException) -> bool:
        # SQLSTATE class 22 (data) / 23 (constraint), or a value asyncpg cannot encode. Connection loss,
        # timeouts, "cannot connect now", read-only replicas... are outages and worth retrying.
        return isinstance(
            exc,
            asyncpg.DataError
            | asyncpg.IntegrityConstraintViolationError
            | asyncpg.exceptions._base.DataError
            | TypeError
            | ValueError,
        ) and not isinstance(exc, OSError | TimeoutError)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return [dict(r.items()) for r in await conn.fetch(sql, *params)]

    async def get_records(self, ids: Sequence[str] | None = None) -> list[RequestRecord]:
        async with self.pool.acquire() as conn:
            if ids is None:
                rows = await conn.fetch(f"{_SELECT} ORDER BY requested_at, id")
            else:
                rows = await conn.fetch(f"{_SELECT} WHERE id = ANY($1::uuid[]) ORDER BY requested_at, id", list(ids))
        return [row_record(r) for r in rows]

    async def insert_api_key(self, key: ApiKey) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO majordomo_api_keys ({_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6)",
                key.id,
                key.name,
                key.key_hash,
                key.key_hint,
                as_utc(key.created_at),
                None if key.revoked_at is None else as_utc(key.revoked_at),
            )

    async def list_api_keys(self) -> list[ApiKey]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {_KEY_COLS} FROM majordomo_api_keys ORDER BY created_at, id")
        return [_key_from_row(r) for r in rows]

    async def api_keys_by_hash(self) -> dict[str, ApiKey]:
        # Bounded like `ping` (the driver's command timeout, 30 s, is far too long to hold a key reload). A
        # query timed out or cancelled drops its connection: resetting it would wait on the hung server.
        conn = await self.pool.acquire(timeout=self._connect_timeout)
        try:
            rows = await conn.fetch(f"SELECT {_KEY_COLS} FROM majordomo_api_keys", timeout=self._connect_timeout)
        except (TimeoutError, asyncio.CancelledError):
            conn.terminate()
            raise
        finally:
            await self.pool.release(conn)
        return {row["key_hash"]: ApiKey(*row) for row in rows}

    async def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE majordomo_api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 "
                f"RETURNING {_KEY_COLS}",
                key_id,
                as_utc(at),
            )
        return None if row is None else _key_from_row(row)
