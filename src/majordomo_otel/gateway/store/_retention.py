"""Retention: whole UTC months of `llm_requests` before a cut removed, on both stores (`majordomo records prune`).

The cut is the first instant of a month: `--before 2026-06` removes every record before 2026-06-01T00:00Z,
`--keep-months 6` keeps the current month and the 6 before it. It is never later than the current month's
start, so a month still being written is never pruned.

PostgreSQL (month partitions, `_partitions.py`): a partition wholly before the cut is dropped, a catalog
change however many rows it has, and it leaves no dead rows to vacuum. Each drop is its own short
transaction under `lock_timeout`, retried a few times: `DROP` locks the table for an instant, and if a long
query holds it, waiting would queue the gateway's inserts behind the drop. Rows before the cut in the
default partition (or in a partition that straddles the cut, which only a hand-made one can) are deleted in
batches of `BATCH`, each committed on its own.

SQLite (one table): each month is deleted in batches of `BATCH` rows, each its own transaction, with a pause
between them, so the gateway's writer (another connection to the same file) gets the write lock in between
instead of waiting behind one long transaction. Freed pages are reused for new rows; the file only shrinks
with `VACUUM`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from majordomo_otel.gateway.store._base import Store
from majordomo_otel.gateway.store._partitions import (
    LOCK_TIMEOUT_MS,
    SCHEMA_LOCK,
    TABLE,
    Partition,
    add_months,
    is_partitioned,
    list_partitions,
    month_of,
    month_start,
)

if TYPE_CHECKING:
    import asyncpg

    from majordomo_otel.gateway.store._postgres import PostgresStore
    from majordomo_otel.gateway.store._sqlite import SQLiteStore

#: rows per deleting transaction
BATCH: Final = 5000
#: seconds between two SQLite batches: the gateway's writer waits on the file lock, and takes it then
SQLITE_PAUSE: Final = 0.05
#: tries to drop one partition while other sessions hold the table (each waits `LOCK_TIMEOUT_MS`)
DROP_TRIES: Final = 5
_LOCK_NOT_AVAILABLE: Final = "55P03"
_MONTH = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


class RetentionBlocked(RuntimeError):
    """A partition could not be dropped: other sessions kept the table locked through every try."""


@dataclass(frozen=True, slots=True)
class Removal:
    """One month's records before the cut, and how they go (or went)."""

    month: date | None  # None: a partition with no lower bound
    records: int
    action: str  # "drop partition llm_requests_2025_05" | "delete from llm_requests_default" | "delete"


def parse_cut(before: str | None, keep_months: int | None, *, now: datetime) -> datetime:
    """`--before YYYY-MM` (or `YYYY-MM-01`) or `--keep-months N` → the cut, the start of a UTC month."""
    current = month_of(now)
    if keep_months is not None:
        if keep_months < 0:
            raise ValueError(f"--keep-months {keep_months}: a number of months, 0 or more")
        return month_start(add_months(current, -keep_months))
    match = _MONTH.fullmatch((before or "").strip())
    if match is None or not 1 <= int(match[2]) <= 12 or match[3] not in (None, "01"):
        raise ValueError(f"--before {before!r}: whole months only, as YYYY-MM (2026-06) or YYYY-MM-01")
    cut = date(int(match[1]), int(match[2]), 1)
    if cut > current:
        raise ValueError(
            f"--before {cut:%Y-%m} would remove records of the current month ({current:%Y-%m}), which is still "
            f"being written: the latest cut is --before {current:%Y-%m}"
        )
    return month_start(cut)


async def plan(store: Store, cut: datetime) -> list[Removal]:
    """What `prune(store, cut)` would remove, oldest month first; changes nothing."""
    if store.dialect == "sqlite":
        return await _sqlite_plan(store, cut)
    async with cast("PostgresStore", store).pool.acquire() as conn:
        return [removal for _, removal in await _pg_plan(conn, cut)]


async def prune(store: Store, cut: datetime, *, done: Callable[[Removal], Any] | None = None) -> list[Removal]:
    """Remove every record before `cut` (a month's start, UTC) month by month, oldest first; what went.

    `done` is called after each month, so a caller can report progress (and what went before a failure).
    """
    if cut != month_start(month_of(cut)):
        raise ValueError(f"{cut.isoformat()} is not the start of a month (UTC): retention removes whole months")
    if store.dialect == "sqlite":
        return await _sqlite_prune(cast("SQLiteStore", store), cut, done)
    return await _pg_prune(cast("PostgresStore", store), cut, done)


# -- SQLite -------------------------------------------------------------------------------------------------
async def _sqlite_plan(store: Store, cut: datetime) -> list[Removal]:
    from majordomo_otel.gateway.store._codec import utc_text

    rows = await store.query(
        f"SELECT substr(requested_at, 1, 7) AS month, COUNT(*) AS records FROM {TABLE} "
        "WHERE requested_at < ? GROUP BY 1 ORDER BY 1",
        [utc_text(cut)],
    )
    return [Removal(date.fromisoformat(r["month"] + "-01"), r["records"], "delete") for r in rows]


async def _sqlite_prune(store: SQLiteStore, cut: datetime, done: Callable[[Removal], Any] | None) -> list[Removal]:
    removed = []
    for month in await _sqlite_plan(store, cut):
        assert month.month is not None
        start, end = month_start(month.month), min(cut, month_start(add_months(month.month, 1)))
        count = 0
        while deleted := await store.delete_requests(start, end, limit=BATCH):
            count += deleted
            await asyncio.sleep(SQLITE_PAUSE)
        removed.append(Removal(month.month, count, "delete"))
        if done is not None:
            done(removed[-1])
    return removed


# -- PostgreSQL ---------------------------------------------------------------------------------------------
async def _pg_plan(conn: asyncpg.Connection, cut: datetime) -> list[tuple[Partition, Removal]]:
    if not await is_partitioned(conn):
        raise ValueError(f"{TABLE} is not partitioned by month yet (schema version 1): run `majordomo migrate` first")
    found: list[tuple[Partition, Removal]] = []
    for p in await list_partitions(conn):
        if not p.default and p.upper is not None and p.upper <= cut:
            records = await conn.fetchval(f"SELECT COUNT(*) FROM {p.name}")
            found.append((p, Removal(month_of(p.lower) if p.lower else None, records, f"drop partition {p.name}")))
        elif p.default or p.lower is None or p.lower < cut:  # rows before the cut in a table that stays
            rows = await conn.fetch(
                "SELECT date_trunc('month', requested_at AT TIME ZONE 'UTC') AS month, COUNT(*) AS records "
                f"FROM {p.name} WHERE requested_at < $1 GROUP BY 1",
                cut,
            )
            found += [(p, Removal(r["month"].date(), r["records"], f"delete from {p.name}")) for r in rows]
    return sorted(found, key=lambda item: (item[1].month or date.min, item[1].action))


async def _pg_prune(store: PostgresStore, cut: datetime, done: Callable[[Removal], Any] | None) -> list[Removal]:
    removed = []
    async with store.pool.acquire() as conn:
        for partition, removal in await _pg_plan(conn, cut):
            if removal.action.startswith("drop"):
                went = Removal(removal.month, await _drop(conn, partition.name), removal.action)
            else:
                assert removal.month is not None
                start = max(month_start(removal.month), partition.lower or month_start(removal.month))
                end = min(cut, month_start(add_months(removal.month, 1)))
                went = Removal(removal.month, await _delete(conn, partition.name, start, end), removal.action)
            removed.append(went)
            if done is not None:
                done(went)
    return removed


async def _drop(conn: asyncpg.Connection, name: str) -> int:
    """Drop one partition; the rows it held (counted with writes to it held off, so exactly what went)."""
    for attempt in range(DROP_TRIES):
        try:
            async with conn.transaction():
                await conn.execute(SCHEMA_LOCK)
                await conn.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                await conn.execute(f"LOCK TABLE {name} IN SHARE MODE")
                records = int(await conn.fetchval(f"SELECT COUNT(*) FROM {name}"))
                await conn.execute(f"DROP TABLE {name}")
                return records
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            if attempt + 1 < DROP_TRIES:
                await asyncio.sleep(0.5 * (attempt + 1))
    raise RetentionBlocked(
        f"could not drop {name}: other sessions held {TABLE} locked through {DROP_TRIES} tries of "
        f"{LOCK_TIMEOUT_MS} ms (a long query?); run the prune again when it is done"
    )


async def _delete(conn: asyncpg.Connection, table: str, start: datetime, end: datetime) -> int:
    count = 0
    while True:
        status = await conn.execute(
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} "
            "WHERE requested_at >= $1 AND requested_at < $2 LIMIT $3))",
            start,
            end,
            BATCH,
        )
        deleted = int(status.split()[-1])
        if not deleted:
            return count
        count += deleted
