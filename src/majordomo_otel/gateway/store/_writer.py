"""The one background writer per process: bounded queue → batches → store, spooling while the store is away.

Invariant that keeps records in order: the spool is a FIFO in front of the store. Once anything is in the
spool, new batches are appended behind it rather than written directly, until a replay empties it. So
rows reach the store in submit order (each batch's rows in order; batches one after another).

Nothing is dropped: a full queue spills to the spool, a failed batch goes to the spool, `close()` leaves
whatever the store could not take in the spool, and the next `start()` replays it. Records the store
rejects for good (bad data) are isolated by bisecting the batch and land in `rejected.jsonl`.
What a hard crash (SIGKILL, power loss) can lose: records still in memory (queue and the batch in
flight), bounded by `queue_size + batch_size`; anything appended to the spool is fsynced (see _spool.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store._base import Store
from majordomo_otel.gateway.store._spool import Spool

log = logging.getLogger("majordomo_otel.gateway.store")
T = TypeVar("T")


class WriterStats(TypedDict):
    """What /readyz reports (a plain dict, ready for JSON)."""

    queue_depth: int
    spool_depth: int
    store_ok: bool
    last_error: str | None
    records_written: int
    batches: int
    records_spooled: int
    records_rejected: int


class RecordWriter:
    def __init__(
        self,
        store: Store,
        *,
        spool_dir: str | Path,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.05,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        fsync: bool = True,
        segment_records: int = 10_000,
    ) -> None:
        self.store = store
        self.spool = Spool(spool_dir, fsync=fsync, segment_records=segment_records)
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._pending: deque[RequestRecord] = deque()
        self._inflight: list[RequestRecord] = []
        self._spill = False
        self._wake: asyncio.Event | None = None
        self._batch_full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._spool_thread: ThreadPoolExecutor | None = None
        self._closing = False
        self._closed = False
        self._store_ok = True
        self._last_error: str | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._records_written = 0
        self._batches = 0
        self._records_spooled = 0
        self._records_rejected = 0

    # -- hot path ------------------------------------------------------------------------------------------
    def submit(self, record: RequestRecord) -> None:
        """Queue a record. Synchronous, O(1), never raises; call it from the event loop's thread."""
        try:
            if self._closed:
                log.warning("RecordWriter closed: spooling record %s synchronously", record.id)
                self.spool.append([record])
                return
            pending = self._pending
            pending.append(record)
            n = len(pending)
            if n >= self.queue_size:
                self._spill = True  # the writer moves the whole queue to disk, in order
            if n == 1 and self._wake is not None:
                self._wake.set()
            elif n >= self.batch_size and self._batch_full is not None:
                self._batch_full.set()
        except Exception:  # pragma: no cover - the hot path must never fail because of bookkeeping
            log.exception("RecordWriter.submit failed for record %s", getattr(record, "id", "?"))

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Find spooled records from earlier runs and start the background task (which replays them first)."""
        if self._task is not None:
            return
        self._wake, self._batch_full = asyncio.Event(), asyncio.Event()
        self._spool_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="majordomo-spool")
        waiting = await self._in_spool_thread(self.spool.scan)
        if waiting:
            log.info("spool %s holds %d records from an earlier run: replaying", self.spool.directory, waiting)
        self._task = asyncio.create_task(self._run(), name="majordomo-record-writer")

    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a drain deadline
        """Write everything out (queue, then spool if the store answers); the rest stays spooled."""
        if self._closed:
            return
        if self._task is None:  # never started: keep what was submitted for the next start
            if self._pending:
                self.spool.append(list(self._pending))
                self._pending.clear()
            self._closed = True
            return
        self._closing = True
        assert self._wake is not None
        assert self._batch_full is not None
        self._wake.set()
        self._batch_full.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.warning("RecordWriter.close: not drained after %.1fs, spooling the rest", timeout)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        except Exception:  # pragma: no cover
            log.exception("RecordWriter task failed")
        leftover = [*self._inflight, *self._pending]
        self._inflight, self._spill = [], False
        self._pending.clear()
        if leftover:
            await self._in_spool_thread(self.spool.append, leftover)
            self._records_spooled += len(leftover)
        await self._in_spool_thread(self.spool.close)
        assert self._spool_thread is not None
        self._spool_thread.shutdown(wait=True)
        self._closed = True

    def stats(self) -> WriterStats:
        return {
            "queue_depth": len(self._pending),
            "spool_depth": self.spool.depth,
            "store_ok": self._store_ok,
            "last_error": self._last_error,
            "records_written": self._records_written,
            "batches": self._batches,
            "records_spooled": self._records_spooled,
            "records_rejected": self._records_rejected,
        }

    async def flush(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Wait until everything submitted so far is stored (queue, batch in flight and spool empty).

        False on timeout (e.g. the store is down). For tests, tools and the CLI; the gateway never waits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._wake is not None:
            self._wake.set()
        while self._pending or self._inflight or self.spool.depth:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    # -- background task -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            try:
                if self._spill:
                    await self._spill_to_spool()
                if self.spool.depth and (self._closing or loop.time() >= self._retry_at):
                    await self._replay()
                    if self._closing and self.spool.depth and not self._pending:
                        return  # store still down: leave the rest for the next start
                if self._pending:
                    await self._linger()
                    self._inflight = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                    await self._deliver(self._inflight)
                    self._inflight = []
                    continue
                if self._closing:
                    return
                self._wake.clear()
                if self._pending or self._spill:
                    continue
                timeout = max(0.0, self._retry_at - loop.time()) if self.spool.depth else None
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # pragma: no cover - a bug; keep the records and keep going
                log.exception("RecordWriter loop error")
                self._last_error = repr(exc)
                if self._inflight:
                    await self._to_spool(self._inflight)
                    self._inflight = []
                await asyncio.sleep(0.1)

    async def _linger(self) -> None:
        """Give a partial batch `flush_interval` to fill up: fewer, larger transactions under load."""
        if len(self._pending) >= self.batch_size or self._closing or self.flush_interval <= 0:
            return
        assert self._batch_full is not None
        self._batch_full.clear()
        try:
            async with asyncio.timeout(self.flush_interval):
                await self._batch_full.wait()
        except TimeoutError:
            pass

    async def _deliver(self, batch: list[RequestRecord]) -> None:
        if self.spool.depth or self._spill:
            await self._to_spool(batch)  # keep order: the spool goes first
            return
        try:
            await self._write(batch)
        except Exception as exc:
            self._mark_down(exc)
            await self._to_spool(batch)

    async def _replay(self) -> None:
        """Move spooled records into the store, oldest first, until empty or the store fails."""
        while True:
            if self._spill:
                await self._spill_to_spool()
            chunk = await self._in_spool_thread(self.spool.read_chunk, self.batch_size)
            if chunk is None:
                return
            if chunk.records:
                try:
                    await self._write(chunk.records)
                except Exception as exc:
                    self._mark_down(exc)
                    return  # not committed: the same chunk is read again next time
            await self._in_spool_thread(self.spool.commit, chunk)

    async def _write(self, records: Sequence[RequestRecord]) -> None:
        """Store the records; bisect a permanently failing batch so only the bad records are set aside."""
        try:
            await self.store.write_batch(records)
        except Exception as exc:
            if not self.store.is_permanent_error(exc):
                raise
            if len(records) == 1:
                log.error("store rejected record %s for good: %r (kept in rejected.jsonl)", records[0].id, exc)
                await self._in_spool_thread(self.spool.reject, records, repr(exc))
                self._records_rejected += 1
                self._last_error = repr(exc)
                return
            mid = len(records) // 2
            await self._write(records[:mid])
            await self._write(records[mid:])
            return
        self._records_written += len(records)
        self._batches += 1
        if not self._store_ok:
            log.info("store %s is back", self.store.display_url)
        self._store_ok, self._failures, self._retry_at = True, 0, 0.0

    def _mark_down(self, exc: BaseException) -> None:
        if self._store_ok:
            log.warning("store %s failed (%r): spooling to %s", self.store.display_url, exc, self.spool.directory)
        self._store_ok = False
        self._last_error = repr(exc)
        self._failures += 1
        delay = min(self.retry_max, self.retry_initial * 2 ** (self._failures - 1))
        self._retry_at = asyncio.get_running_loop().time() + delay * random.uniform(0.8, 1.0)

    async def _spill_to_spool(self) -> None:
        self._spill = False
        records = list(self._pending)
        self._pending.clear()
        self._inflight = records
        await self._to_spool(records)
        self._inflight = []

    async def _to_spool(self, records: Sequence[RequestRecord]) -> None:
        await self._in_spool_thread(self.spool.append, records)
        self._records_spooled += len(records)

    async def _in_spool_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Spool I/O runs on one dedicated thread, so appends and replays never interleave."""
        assert self._spool_thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._spool_thread, fn, *args)
