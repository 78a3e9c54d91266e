"""PostgreSQL sink on asyncpg: one statement per batch, idempotent by record id.

Insert methods (bench/bench_store.py and bench/bench_partitions.py measure them):

* `copy` (default): binary COPY into a per-connection temp table, then one `INSERT ... SELECT ... ON CONFLICT
  DO NOTHING`.
* `executemany`: one single-row `INSERT ... ON CONFLICT DO NOTHING` prepared once; asyncpg pipelines every
  row's Bind/Execute in one round trip, in one transaction.
* `unnest`: `INSERT ... SELECT * FROM unnest($1::uuid[], ...)`, one array per column.

On the one table of schema version 1 they were close (`executemany` was the default). Into month partitions
a single-row INSERT pays the routing to its partition once per row: `executemany` costs the server ~40-55 µs
a record against ~25-30 on one table, while `copy` and `unnest` route a whole batch at once and cost what they
did (~17-22 µs). `copy` is the cheapest in all, or level with `unnest` (client + server ~30-33 µs a record at
batch 500, `unnest` ~33-39, `executemany` ~52-65; bench/results/partitions-2026-12-06.md).
At batch size 1 every method is bound by the server's commit fsync (a few hundred records/s), which is
why the writer batches.

The pool starts empty (`min_size=0`) so opening a store never needs the server: a gateway can start while
the database is down and its writer spools until it returns.

`llm_requests` is partitioned by month (schema version 2, `_partitions.py`): the conflict target is the
primary key `(id, requested_at)`, which a replayed record matches exactly (the journal and the spool keep
`requested_at` to the microsecond, as TIMESTAMPTZ does).
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from majordomo_otel._redact import hide_password
from majordomo_otel.gateway.record import COLUMNS, RequestRecord
from majordomo_otel.gateway.store._base import ApiKey, Dialect
from majordomo_otel.gateway.store._codec import as_utc, json_text
from majordomo_otel.gateway.store._partitions import SCHEMA_LOCK, create_months_ahead
from majordomo_otel.gateway.store._schema import (
    LLM_REQUEST_COLUMNS,
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
_ON_CONFLICT = "ON CONFLICT (id, requested_at) DO NOTHING"  # the partitioned table's primary key
_INSERT_ONE = (
    f"INSERT INTO llm_requests ({_COLS}) VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))}) " + _ON_CONFLICT
)
_INSERT_UNNEST = (
    f"INSERT INTO llm_requests ({_COLS}) SELECT "
    + ", ".join(f"u.{c.name}::jsonb" if c.pg.startswith("JSONB") else f"u.{c.name}" for c in LLM_REQUEST_COLUMNS)
    + " FROM unnest("
    + ", ".join(f"${i + 1}::{_array_type(c.pg)}[]" for i, c in enumerate(LLM_REQUEST_COLUMNS))
    + f") AS u({_COLS}) {_ON_CONFLICT}"
)
_STAGE = "majordomo_stage_llm_requests"
_CREATE_STAGE = f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE llm_requests INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_INSERT_STAGE = f"INSERT INTO llm_requests ({_COLS}) SELECT {_COLS} FROM {_STAGE} {_ON_CONFLICT}"
_SELECT = f"SELECT {_COLS} FROM llm_requests"
_KEY_COLS = "id, name, key_hash, key_hint, created_at, revoked_at"
_JSON_INDEX = COLUMNS.index("raw_metadata")
_TIME_INDEXES = (COLUMNS.index("requested_at"), COLUMNS.index("responded_at"))
_GET_ALL = operator.attrgetter(*COLUMNS)
#: a migration that copies rows (version 2 on a large table) takes minutes: the command timeout (30 s) would
#: cancel it, roll it back and start it again, for ever
_MIGRATION_TIMEOUT = 3600.0


def record_params(record: RequestRecord) -> list[Any]:
    values = list(_GET_ALL(record))
    values[_JSON_INDEX] = json_text(values[_JSON_INDEX])
    for i in _TIME_INDEXES:
        if (value := values[i]) is not None and value.tzinfo is not UTC:
            values[i] = as_utc(value)
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
        insert_method: InsertMethod = "copy",
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

    async def migrate(self, *, target: int | None = None) -> int:
        """Bring the schema to `target` (default: the latest), then create the coming months' partitions."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                # Serialise concurrent migrators (several gateway replicas starting at once), per schema.
                await conn.execute(SCHEMA_LOCK)
                await conn.execute(version_table("postgresql"))
                current: int = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM majordomo_schema_version")
                for version in pending_versions(current):
                    if target is not None and version > target:
                        break
                    for stmt in migration_statements("postgresql", version):
                        await conn.execute(stmt, timeout=_MIGRATION_TIMEOUT)
                    await conn.execute("INSERT INTO majordomo_schema_version (version) VALUES ($1)", version)
                    current = version
            await create_months_ahead(conn)
        return current

    async def create_partitions_ahead(self) -> list[str]:
        """The current month's partition of `llm_requests` and the next few (`_partitions.MONTHS_AHEAD`);
        the names created. Nothing on a table not (yet) partitioned."""
        async with self.pool.acquire() as conn:
            return await create_months_ahead(conn)

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
                return bool(await conn.fetchval("SELECT 1", timeout=self._connect_timeout) == 1)
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
