"""A store that is slow but not down (a table lock, a long checkpoint): the queue never outgrows its bound.

Records keep arriving while one store call waits; beyond the bound they go to the spool at once, so a
crash then loses at most what the bound and the journal say, and every record lands once the lock goes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from _store_helpers import make_record

from majordomo_otel.gateway.store import RecordWriter, Store

BOUND = 200
RECORDS = 3_000


@asynccontextmanager
async def table_locked(store_url: str) -> AsyncIterator[None]:
    """Another client holds an exclusive lock on llm_requests (writes wait on it) until the block ends."""
    if store_url.startswith("sqlite"):
        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("COMMIT")
            conn.close()
        return
    dsn, schema = store_url.split("?schema=")
    pg = await asyncpg.connect(dsn)
    tx = pg.transaction()
    await tx.start()
    await pg.execute(f'LOCK TABLE "{schema}".llm_requests IN ACCESS EXCLUSIVE MODE')
    try:
        yield
    finally:
        await tx.commit()
        await pg.close()


async def _submit_while(writer: RecordWriter, n: int, sample: Callable[[], None]) -> list[str]:
    ids = []
    for i in range(n):
        record = make_record(i)
        writer.submit(record)
        ids.append(record.id)
        sample()
        if i % 100 == 0:
            await asyncio.sleep(0.01)  # let the writer and the spool thread run, as a serving loop would
    return ids


async def test_queue_stays_within_its_bound_while_the_table_is_locked(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    writer = RecordWriter(store, spool_dir=tmp_path / "spool", queue_size=BOUND, batch_size=50, flush_interval=0.005)
    await writer.start()
    depths: list[int] = []
    try:
        async with table_locked(store_url):
            await asyncio.sleep(0.1)  # the writer's first batch now waits on the lock
            ids = await _submit_while(writer, RECORDS, lambda: depths.append(writer.stats()["queue_depth"]))
            spooled_under_lock = writer.stats()["records_spooled"]
        assert await writer.flush(timeout=30) is True
    finally:
        await writer.close()
    rows = await store.query("SELECT id FROM llm_requests")
    stored = [row["id"] for row in rows]
    assert {
        "max depth": max(depths),
        "spilled while locked": spooled_under_lock >= RECORDS - 2 * BOUND,
        "stored": sorted(map(str, stored)),
    } == {"max depth": BOUND - 1, "spilled while locked": True, "stored": sorted(ids)}


async def test_a_store_lock_does_not_stall_the_event_loop(store: Store, store_url: str, tmp_path: Path) -> None:
    """Submitting is synchronous bookkeeping: a locked store must not make it (or the loop) wait."""
    writer = RecordWriter(store, spool_dir=tmp_path / "spool", queue_size=BOUND, batch_size=50, flush_interval=0.005)
    await writer.start()
    lags: list[float] = []
    loop = asyncio.get_running_loop()

    async def ticker() -> None:
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - t - 0.005)

    try:
        async with table_locked(store_url):
            tick = asyncio.create_task(ticker())
            await _submit_while(writer, RECORDS, lambda: None)
            await asyncio.sleep(0.5)
            tick.cancel()
        assert await writer.flush(timeout=30) is True
    finally:
        await writer.close()
    assert max(lags) < 0.25, f"event loop stalled {max(lags):.3f} s"
