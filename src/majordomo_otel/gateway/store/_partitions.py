"""`llm_requests` partitioned by month on PostgreSQL (schema version 2), and months created ahead.

Why: at tens of millions of rows, retention must drop whole months (a `DROP TABLE`, not a `DELETE` of
millions of rows and the vacuum after it), and a query over a time window should read only its months.

Layout on PostgreSQL: `llm_requests` is `PARTITION BY RANGE (requested_at)` with `PRIMARY KEY (id,
requested_at)` (a unique key must hold the partition key; a record always carries the same pair, so inserts
stay idempotent with `ON CONFLICT (id, requested_at)`), one partition per UTC month, `llm_requests_YYYY_MM`,
and `llm_requests_default` for any time no month covers, so that no insert can fail for a missing month. A
partition's indexes are named after it (`llm_requests_2026_12_feature_idx`), so a plan reads plainly.

Version 2 moves an existing table's rows into their months in one transaction (renamed, copied, dropped: a
failure leaves version 1 as it was), keeping the column comments, the table comment and the grants. It
copies every row, so on a large table run `majordomo migrate` at a quiet time (bench/results/partitions-*
has the rate). On SQLite version 2 changes nothing: one table, retention deletes whole months in batches.

Months ahead (`create_months_ahead`): the current month and the next `MONTHS_AHEAD`, by `majordomo migrate`,
at gateway start and every `UPKEEP_INTERVAL` seconds after (`keep_months_ahead`), off the serving path. A
month is built as a plain table with its indexes, then attached: `ATTACH PARTITION` takes the parent only
SHARE UPDATE EXCLUSIVE, so inserts and queries go on (it locks the default partition, which inserts reach
only for months without a partition). Rows of that month already in the default partition move in first,
in the same transaction, under a short `lock_timeout`: it never queues the writer behind it for long, and a
month it could not lock is tried again next time. Creators take the migration's advisory lock, so replicas
starting at once create each month once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from majordomo_otel.gateway.store._base import Store

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("majordomo_otel.gateway.store")

TABLE: Final = "llm_requests"
DEFAULT_PARTITION: Final = f"{TABLE}_default"
#: months created ahead of the current one
MONTHS_AHEAD: Final = 3
#: seconds between two rounds of ahead-creation in a running gateway
UPKEEP_INTERVAL: Final = 3600.0
#: how long creating or dropping a partition may wait for a lock before giving up (and trying again later)
LOCK_TIMEOUT_MS: Final = 2000
#: every creator and migrator of one schema's tables takes this lock first
SCHEMA_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('majordomo-migrate:' || current_schema()))"
_LOCK_NOT_AVAILABLE: Final = "55P03"


@dataclass(frozen=True, slots=True)
class Index:
    """One index of `llm_requests`: `llm_requests_<suffix>` on the table, `<partition>_<suffix>` on each month."""

    suffix: str
    columns: str

    def on(self, table: str) -> str:
        return f"CREATE INDEX IF NOT EXISTS {table}_{self.suffix} ON {table} {self.columns}"


#: Time windows (`majordomo costs --since`), trace lookups (`--trace`), and the guide's WHERE / GROUP BY on
#: Feature and User-Id; a query must spell `->>` exactly so to use them. The trace index also holds the time
#: and cost, so "cost per trace" over every row is an index-only scan in trace order instead of a hash of
#: millions of traces spilling to disk (2.5x faster at 10M rows, for 4x the index's size: its entries no
#: longer deduplicate). bench/results/partitions-*.md has the plans.
INDEXES: Final[tuple[Index, ...]] = (
    Index("requested_at_idx", "(requested_at)"),
    Index("trace_id_idx", "(trace_id) INCLUDE (requested_at, total_cost)"),
    Index("feature_idx", "((raw_metadata->>'Feature'))"),
    Index("user_id_idx", "((raw_metadata->>'User-Id'))"),
)


#: How many distinct values each tag has, for GROUP BY estimates over the whole table. Autovacuum analyses the
#: partitions, never the partitioned table; if someone does (`ANALYZE llm_requests`), the table's own statistics
#: know the JSONB column but not the tags in it, and the planner then takes every row for a group of its own:
#: "top users" became a sort of 10M rows, 2.4x slower than a hash (bench/results/partitions-*.md).
_TAG_STATISTICS: Final = (
    f"CREATE STATISTICS IF NOT EXISTS {TABLE}_tags_stats (ndistinct) ON (raw_metadata->>'Feature'), "
    f"(raw_metadata->>'Step'), (raw_metadata->>'User-Id'), (raw_metadata->>'Session-Id') FROM {TABLE}"
)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_PARTITION_NAMES = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    f"WHERE i.inhparent = {_sql_str(TABLE)}::regclass"
)


def _do(body: str) -> str:
    return f"DO $majordomo$\nDECLARE\n    p text;\n    m timestamp;\n    g record;\nBEGIN\n{body}\nEND\n$majordomo$"


def _v2_postgresql() -> list[str]:
    old = f"{TABLE}_v1"
    month_name = f"{_sql_str(TABLE + '_')} || to_char(m, 'YYYY_MM')"

    def bound(month: str) -> str:  # a UTC midnight, as partition_name and month_start spell it in Python
        return f"to_char({month}, 'YYYY-MM-DD') || ' 00:00:00+00'"

    lower, upper = bound("m"), bound("m + interval '1 month'")
    index_each = "\n".join(
        f"        EXECUTE format({_sql_str('CREATE INDEX %I ON %I ' + ix.columns)}, p || '_{ix.suffix}', p);"
        for ix in INDEXES
    )
    return [
        f"ALTER TABLE {TABLE} RENAME TO {old}",
        f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS "
        "INCLUDING STORAGE) PARTITION BY RANGE (requested_at)",
        # The table comment and grants as they are (a read-only role for dashboards keeps reading).
        _do(
            f"    EXECUTE format('COMMENT ON TABLE {TABLE} IS %L',\n"
            f"        obj_description({_sql_str(old)}::regclass, 'pg_class'));\n"
            f"    FOR g IN SELECT a.privilege_type, a.grantee FROM pg_class c, aclexplode(c.relacl) a\n"
            f"             WHERE c.oid = {_sql_str(old)}::regclass AND a.grantee <> c.relowner LOOP\n"
            f"        EXECUTE format('GRANT %s ON {TABLE} TO %s', g.privilege_type,\n"
            "            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);\n"
            "    END LOOP;"
        ),
        f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT",
        # One partition per month that has rows (never a run of empty months: a clock far off made one row).
        _do(
            f"    FOR m IN SELECT DISTINCT date_trunc('month', requested_at AT TIME ZONE 'UTC') FROM {old} LOOP\n"
            f"        EXECUTE format('CREATE TABLE %I PARTITION OF {TABLE} FOR VALUES FROM (%L) TO (%L)',\n"
            f"            {month_name}, {lower}, {upper});\n"
            "    END LOOP;"
        ),
        f"INSERT INTO {TABLE} SELECT * FROM {old}",
        f"DROP TABLE {old}",
        # Indexes after the rows (built once, not row by row): each partition's named after it, then the
        # table's, which adopts them.
        f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id, requested_at)",
        _do(f"    FOR p IN {_PARTITION_NAMES} LOOP\n{index_each}\n    END LOOP;"),
        *(ix.on(TABLE) for ix in INDEXES),
        _TAG_STATISTICS,
    ]


def v2(dialect: str) -> list[str]:
    """Schema version 2: `llm_requests` partitioned by month on PostgreSQL; nothing to do on SQLite."""
    return _v2_postgresql() if dialect == "postgresql" else []


# -- months -------------------------------------------------------------------------------------------------
def month_of(value: datetime) -> date:
    """The UTC month `value` falls in, as its first day."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return date(utc.year, utc.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(month: date) -> str:
    return f"{TABLE}_{month:%Y_%m}"


@dataclass(frozen=True, slots=True)
class Partition:
    """A partition of `llm_requests` and its bounds (None: unbounded on that side, or the default)."""

    name: str
    lower: datetime | None
    upper: datetime | None
    default: bool = False


# Bounds come back as text in the session's time zone, with its offset: cast back, they are exact instants.
_LIST = f"""
SELECT c.relname AS name, b.expr = 'DEFAULT' AS is_default,
       (regexp_match(b.expr, $$FROM \\('([^']+)'\\)$$))[1]::timestamptz AS lower,
       (regexp_match(b.expr, $$TO \\('([^']+)'\\)$$))[1]::timestamptz AS upper
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
WHERE i.inhparent = to_regclass({_sql_str(TABLE)})
ORDER BY lower NULLS FIRST, name
"""
_IS_PARTITIONED = f"SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass({_sql_str(TABLE)})"


async def is_partitioned(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval(_IS_PARTITIONED))


async def list_partitions(conn: asyncpg.Connection) -> list[Partition]:
    """Every partition, oldest first, the default partition first of all."""
    rows = await conn.fetch(_LIST)
    return [Partition(r["name"], r["lower"], r["upper"], r["is_default"]) for r in rows]


async def create_month(conn: asyncpg.Connection, month: date) -> bool:
    """Create `month`'s partition unless it exists; True if this call created it.

    A plain table with its indexes, then attached (so the parent is never locked against inserts), with the
    month's rows moved in from the default partition first: attaching refuses while they are there.
    """
    name, start, end = partition_name(month), month_start(month), month_start(add_months(month, 1))
    async with conn.transaction():
        await conn.execute(SCHEMA_LOCK)
        await conn.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        if not await is_partitioned(conn) or await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
            return False
        await conn.execute(
            f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
        )
        await conn.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id, requested_at)")
        for ix in INDEXES:
            await conn.execute(ix.on(name))
        await conn.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE requested_at >= $1 AND requested_at < $2 "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            start,
            end,
        )
        await conn.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')")
    return True


def months_ahead(now: datetime, ahead: int = MONTHS_AHEAD) -> list[date]:
    """The current month and the `ahead` after it."""
    first = month_of(now)
    return [add_months(first, i) for i in range(ahead + 1)]


async def create_months_ahead(
    conn: asyncpg.Connection, now: datetime | None = None, *, ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Create the current month's partition and the next `ahead`; the names created (none when all exist).

    A month whose lock is not granted within `LOCK_TIMEOUT_MS` (a long query on the default partition) is
    skipped with a warning: records of that month still land, in the default partition, and the next round
    moves them in.
    """
    created = []
    for month in months_ahead(now or datetime.now(UTC), ahead):
        try:
            if await create_month(conn, month):
                created.append(partition_name(month))
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            log.warning("partition %s not created yet (%s); trying again later", partition_name(month), exc)
    return created


@runtime_checkable
class MonthlyPartitioned(Protocol):
    """A store whose `llm_requests` has month partitions to keep ahead (PostgreSQL)."""

    async def create_partitions_ahead(self) -> Sequence[str]: ...


async def keep_months_ahead(store: Store, *, every: float = UPKEEP_INTERVAL) -> None:
    """The gateway's background task: create months ahead every `every` seconds, whatever fails meanwhile."""
    if not isinstance(store, MonthlyPartitioned):
        return
    while True:
        await asyncio.sleep(every)
        try:
            created = await store.create_partitions_ahead()
        except Exception as exc:
            log.warning("could not create the coming months' partitions of %s (%s); trying again later", TABLE, exc)
        else:
            if created:
                log.info("created partitions %s", ", ".join(created))
