"""The one background writer per process: journal → bounded queue → batches → store, spooling while it is away.

Every submitted record is numbered and appended to the write-ahead journal (`_journal.py`) at once, so a
SIGKILL loses nothing the journal holds. The queue is bounded: when it fills (a slow or locked store), it is
moved to the spool on the spool's thread while the store call is still running, so memory never holds more
than `queue_size` queued records plus the batch in flight.

A record is *settled* once it is in the store, in the spool, or set aside in `rejected.jsonl`; the writer
tells the journal which numbers are settled, and the journal deletes segments whose records all are.

Nothing is dropped and the writer cannot die: every failure (store, spool, encoding, a full disk) is
contained per batch. A batch neither the store nor the spool takes is held in memory (`stranded`) and
retried; while that backlog reaches `queue_size`, `accepting` is False and the gateway refuses new
requests (503) rather than serve requests it cannot bill. Records the store refuses for good are
isolated by bisecting the batch and kept, re-importable, in `rejected.jsonl` (`majordomo records`).

Order: rows reach the store in submit order except where a spill overtakes the batch in flight; the
spool is replayed oldest first. Inserts are idempotent by record id, so replays never double a row.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from majordomo_otel._tasks import stop_task
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store._base import Store
from majordomo_otel.gateway.store._codec import record_to_line
from majordomo_otel.gateway.store._journal import Journal
from majordomo_otel.gateway.store._spool import Spool

log = logging.getLogger("majordomo_otel.gateway.store")
T = TypeVar("T")


class WriterStats(TypedDict):
    """What /readyz reports (a plain dict, ready for JSON). Never a record's contents."""

    alive: bool
    accepting: bool
    queue_depth: int
    queue_bound: int
    spool_depth: int
    journal_depth: int
    stranded: int
    store_ok: bool
    spool_ok: bool
    journal_ok: bool
    last_error: str | None
    records_written: int
    batches: int
    records_spooled: int
    records_rejected: int


_Batch = tuple[int, list[RequestRecord]]  # (sequence number of the first record, records)


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
        journal: bool = True,
        journal_fsync: bool = False,
    ) -> None:
        self.store = store
        self.spool = Spool(spool_dir, fsync=fsync, segment_records=segment_records)
        self.journal: Journal | None = Journal(spool_dir, fsync=journal_fsync) if journal else None
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._pending: deque[RequestRecord] = deque()
        self._seq = 0  # records submitted so far
        self._head = 0  # sequence number of _pending[0]
        self._inflight: list[RequestRecord] = []
        self._spilling = 0  # spills handed to the spool thread and not yet done
        self._spills: set[asyncio.Task[None]] = set()
        self._stranded: deque[_Batch] = deque()
        self._stranded_count = 0
        self._settled_upto = 0
        self._settled_ahead: list[tuple[int, int]] = []  # heap of (first, count) settled out of order
        self._wake: asyncio.Event | None = None
        self._batch_full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._spool_thread: ThreadPoolExecutor | None = None
        self._closing = False
        self._closed = False
        self._store_ok = True
        self._spool_ok = True
        self._last_error: str | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._records_written = 0
        self._batches = 0
        self._records_spooled = 0
        self._records_rejected = 0
        self.encoding_failures = 0

    # -- hot path ------------------------------------------------------------------------------------------
    def submit(self, record: RequestRecord) -> None:
        """Journal and queue a record. Synchronous, never raises; call it from the event loop's thread."""
        try:
            if self._closed:
                log.warning("RecordWriter closed: spooling record %s synchronously", record.id)
                self.spool.append([record])
                return
            if self.journal is not None:
                try:
                    self.journal.append(record_to_line(record))
                except Exception:  # a value the encoder refuses: the spool sets the record aside later
                    self.encoding_failures += 1
                    self.journal.append(b"\n")  # keeps journal numbering equal to submit numbering
            self._seq += 1
            pending = self._pending
            pending.append(record)
            n = len(pending)
            if n >= self.queue_size and self._task is not None:
                self._spill()
            elif n == 1 and self._wake is not None:
                self._wake.set()
            elif n >= self.batch_size and self._batch_full is not None:
                self._batch_full.set()
        except Exception:  # pragma: no cover - the hot path must never fail because of bookkeeping
            log.exception("RecordWriter.submit failed for record %s", getattr(record, "id", "?"))

    def durable(self) -> asyncio.Future[None] | None:
        """Await this (when not None) before a response's last byte: then its record survives SIGKILL."""
        return self.journal.durable() if self.journal is not None else None

    @property
    def accepting(self) -> bool:
        """False while records pile up that neither the store nor the spool takes: refuse new work."""
        return self._stranded_count < self.queue_size

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Adopt dead processes' journals, find spooled records, start the background task (replay first)."""
        if self._task is not None:
            return
        self._wake, self._batch_full = asyncio.Event(), asyncio.Event()
        self.spool.claim()  # before anything reads the folder: another live gateway may own it
        self._spool_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="majordomo-spool")
        if self.journal is not None:
            adopted = await self._in_spool_thread(self.journal.adopt_orphans, self.spool.adopt)
            if adopted:
                log.info("journal: %d segment(s) of an earlier process that did not stop cleanly: replaying", adopted)
        waiting = await self._in_spool_thread(self.spool.scan)
        if waiting:
            log.info("spool %s holds %d records from an earlier run: replaying", self.spool.directory, waiting)
        if self.journal is not None:
            self.journal.open()
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
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._task)
        except TimeoutError:
            log.warning("RecordWriter.close: not drained after %.1fs, spooling the rest", timeout)
            await stop_task(self._task)
        except Exception:  # pragma: no cover
            log.exception("RecordWriter task failed")
        await asyncio.gather(*self._spills)
        leftover: list[_Batch] = list(self._stranded)
        if self._inflight:
            leftover.append((self._head - len(self._inflight), self._inflight))
        if self._pending:
            leftover.append((self._head, list(self._pending)))
        self._inflight, self._stranded, self._stranded_count = [], deque(), 0
        self._pending.clear()
        for first, records in leftover:
            await self._to_spool(first, records)
        await self._in_spool_thread(self.spool.close)
        if self.journal is not None:
            self.journal.close()  # keeps its segments if anything is unsettled (spool failing): replayed next start
        assert self._spool_thread is not None
        self._spool_thread.shutdown(wait=True)
        self._closed = True
        if self._stranded_count:
            log.error("%d records could not be written anywhere (store and spool failing)", self._stranded_count)

    def stats(self) -> WriterStats:
        journal = self.journal
        return {
            "alive": self._task is not None and not self._task.done(),
            "accepting": self.accepting,
            "queue_depth": len(self._pending),
            "queue_bound": self.queue_size,
            "spool_depth": self.spool.depth,
            "journal_depth": journal.depth if journal is not None else 0,
            "stranded": self._stranded_count,
            "store_ok": self._store_ok,
            "spool_ok": self._spool_ok,
            "journal_ok": journal is None or journal.error is None,
            "last_error": self._last_error,
            "records_written": self._records_written,
            "batches": self._batches,
            "records_spooled": self._records_spooled,
            "records_rejected": self._records_rejected,
        }

    async def spool_writable(self, timeout: float = 1.0) -> bool:  # noqa: ASYNC109 - a probe deadline
        """Whether the spool takes a real write now (a write and fsync on its own thread, in turn with appends)."""
        try:
            if self._spool_thread is None or self._closed:
                async with asyncio.timeout(timeout):
                    await asyncio.to_thread(self.spool.probe)
            else:
                async with asyncio.timeout(timeout):
                    await self._in_spool_thread(self.spool.probe)
        except Exception:
            return False
        return True

    async def flush(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Wait until everything submitted so far is stored (queue, batch in flight and spool empty).

        False on timeout (e.g. the store is down). For tests, tools and the CLI; the gateway never waits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._wake is not None:
            self._wake.set()
        while self._pending or self._inflight or self._spilling or self._stranded or self.spool.depth:
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
                if self._stranded and (self._closing or loop.time() >= self._retry_at):
                    await self._retry_stranded()
                if self.spool.depth and not self._spilling and (self._closing or loop.time() >= self._retry_at):
                    await self._replay()
                    if self._closing and self.spool.depth and not self._pending:
                        return  # store still down: leave the rest for the next start
                if self._pending:
                    await self._linger()
                    if not self._pending:  # spilled while lingering
                        continue
                    first = self._head
                    n = min(self.batch_size, len(self._pending))
                    self._inflight = [self._pending.popleft() for _ in range(n)]
                    self._head += n
                    await self._deliver(first, self._inflight)
                    self._inflight = []
                    continue
                if self._closing:
                    return
                self._wake.clear()
                if self._pending:
                    continue
                waiting = self.spool.depth or self._stranded or self._spilling
                timeout = max(0.005, self._retry_at - loop.time()) if waiting else None
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: keep the records and keep going
                log.exception("RecordWriter loop error")
                self._last_error = _describe(exc)
                if self._inflight:
                    self._strand(self._head - len(self._inflight), self._inflight)
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

    async def _deliver(self, first: int, batch: list[RequestRecord]) -> None:
        if self.spool.depth or self._spilling or self._stranded:
            await self._to_spool(first, batch)  # keep order: what waits goes first
            return
        try:
            await self._write(batch)
        except Exception as exc:
            self._mark_down(exc)
            await self._to_spool(first, batch)
            return
        self._settle(first, len(batch))

    def _spill(self) -> None:
        """The queue reached its bound: hand all of it to the spool thread now, not after the store call.

        The append is queued on the spool thread here, synchronously, so it lands before any later batch.
        """
        records, first = list(self._pending), self._head
        self._pending.clear()
        self._head += len(records)
        self._spilling += 1
        assert self._spool_thread is not None
        appended = asyncio.get_running_loop().run_in_executor(self._spool_thread, self.spool.append, records)

        async def settle() -> None:
            try:
                await appended
            except Exception as exc:
                self._spool_failed(exc)
                self._strand(first, records)
            else:
                self._spool_ok = True
                self._records_spooled += len(records)
                self._settle(first, len(records))
            finally:
                self._spilling -= 1

        task = asyncio.get_running_loop().create_task(settle(), name="majordomo-spill")
        self._spills.add(task)
        task.add_done_callback(self._spills.discard)

    async def _replay(self) -> None:
        """Move spooled records into the store, oldest first, until empty or the store fails."""
        while True:
            try:
                chunk = await self._in_spool_thread(self.spool.read_chunk, self.batch_size)
            except OSError as exc:
                self._spool_failed(exc)
                return
            if chunk is None:
                return
            if chunk.records:
                try:
                    await self._write(chunk.records)
                except Exception as exc:
                    self._mark_down(exc)
                    return  # not committed: the same chunk is read again next time
            try:
                await self._in_spool_thread(self.spool.commit, chunk)
            except OSError as exc:
                self._spool_failed(exc)  # replayed again later: idempotent
                return

    async def _retry_stranded(self) -> None:
        """Batches that found no home: the store first (it may be back), else the spool."""
        while self._stranded:
            first, records = self._stranded[0]
            try:
                await self._write(records)
            except Exception as exc:
                self._mark_down(exc)
                try:
                    await self._in_spool_thread(self.spool.append, records)
                except Exception as spool_exc:
                    self._spool_failed(spool_exc)
                    return
                self._spool_ok = True
                self._records_spooled += len(records)
            self._stranded.popleft()
            self._stranded_count -= len(records)
            self._settle(first, len(records))

    async def _write(self, records: Sequence[RequestRecord]) -> None:
        """Store the records; bisect a permanently failing batch so only the bad records are set aside."""
        try:
            await self.store.write_batch(records)
        except Exception as exc:
            if not self.store.is_permanent_error(exc):
                raise
            if len(records) == 1:
                log.error("store refused record %s (%s): kept in rejected.jsonl", records[0].id, _describe(exc))
                await self._in_spool_thread(self.spool.reject, records, _describe(exc, detail=True))
                self._records_rejected += 1
                self._last_error = f"store refused {self._records_rejected} record(s): see `majordomo records`"
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
            log.warning(
                "store %s failed (%s): spooling to %s", self.store.display_url, _describe(exc), self.spool.directory
            )
        self._store_ok = False
        self._last_error = _describe(exc)
        self._backoff()

    def _backoff(self) -> None:
        self._failures += 1
        delay = min(self.retry_max, self.retry_initial * 2 ** (self._failures - 1))
        self._retry_at = asyncio.get_running_loop().time() + delay * random.uniform(0.8, 1.0)

    async def _to_spool(self, first: int, records: list[RequestRecord]) -> None:
        try:
            await self._in_spool_thread(self.spool.append, records)
        except Exception as exc:
            self._spool_failed(exc)
            self._strand(first, records)
            return
        if not self._spool_ok:
            log.info("spool %s is writable again", self.spool.directory)
        self._spool_ok = True
        self._records_spooled += len(records)
        self._settle(first, len(records))

    def _strand(self, first: int, records: list[RequestRecord]) -> None:
        self._stranded.append((first, records))
        self._stranded_count += len(records)
        if self._retry_at <= asyncio.get_running_loop().time():
            self._backoff()

    def _spool_failed(self, exc: BaseException) -> None:
        if self._spool_ok:
            log.error("spool %s not writable (%s): records held in memory", self.spool.directory, _describe(exc))
        self._spool_ok = False
        self._last_error = _describe(exc)

    def _settle(self, first: int, count: int) -> None:
        """Records [first, first+count) are safe elsewhere: tell the journal how far it may forget."""
        if first == self._settled_upto:
            self._settled_upto += count
            ahead = self._settled_ahead
            while ahead and ahead[0][0] == self._settled_upto:
                self._settled_upto += heapq.heappop(ahead)[1]
        else:
            heapq.heappush(self._settled_ahead, (first, count))
            return
        if self.journal is not None:
            self.journal.settle_upto(self._settled_upto)

    async def _in_spool_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Spool I/O runs on one dedicated thread, so appends and replays never interleave."""
        assert self._spool_thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._spool_thread, fn, *args)


def _describe(exc: BaseException, *, detail: bool = False) -> str:
    """What went wrong, without record contents (drivers quote failing rows): for logs and /readyz.

    `detail=True` keeps the message, for `rejected.jsonl`, which holds the record anyway.
    """
    if detail or isinstance(exc, OSError):
        text = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return type(exc).__name__
