"""Write-ahead journal: every record is on local disk before its response's last byte leaves.

The writer's queue and the batch in flight live in memory; without the journal a SIGKILL (an OOM kill,
an orchestrator's hard kill) would lose the records of responses the client already has, which the
provider bills. So `RecordWriter.submit` also appends the record's spool line here, and the proxy
awaits `durable()` before it ends a response.

Cost: appends made in one event-loop iteration share one `write(2)` (`call_soon` flush), so a request
pays one JSON encoding and a share of a syscall, never an fsync of its own. `fsync=True` adds an
`fdatasync` per flush, run on a thread, for power-loss safety; off by default (a process crash, which is
the common case, loses nothing either way: written bytes are in the OS page cache).

Layout: `<spool dir>/journal/<pid>-<start ns>/journal-<seq>.jsonl`, one folder per process, locked
with `flock` for the process's lifetime. Records are numbered in submit order; the writer settles them
(stored, spooled or set aside) in the same order and reports how many, so a segment is deleted once
every record in it is settled. At start, folders whose lock is free belong to dead processes: their
segments become spool segments and are replayed like a spool (inserts are idempotent by record id,
so records both journaled and stored are not doubled).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("majordomo_otel.gateway.store")

JOURNAL_DIR = "journal"
_LOCK = ".lock"
_PREFIX, _SUFFIX = "journal-", ".jsonl"


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int  # sequence number of its first record
    end: int  # one past its last record


class Journal:
    def __init__(self, spool_dir: str | Path, *, fsync: bool = False, segment_records: int = 20_000) -> None:
        self.root = Path(spool_dir) / JOURNAL_DIR
        self.fsync = fsync
        self.segment_records = segment_records
        self.directory: Path | None = None
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segments: deque[_Segment] = deque()
        self._seq = 0  # records appended so far
        self._settled = 0  # records the writer has settled so far
        self._buffer: list[bytes] = []
        self._scheduled = False
        self._waiters: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._syncing: asyncio.Future[None] | None = None
        #: the last write failure, if the journal could not be written (disk full); records still flow
        self.error: str | None = None
        self.write_failures = 0

    # -- setup ---------------------------------------------------------------------------------------------
    def adopt_orphans(self, into: Callable[[Path], None]) -> int:
        """Hand every segment of a dead process's journal to `into` (the spool); return how many."""
        if not self.root.is_dir():
            return 0
        adopted = 0
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and p != self.directory):
            lock = _try_lock(folder / _LOCK)
            if lock is None:
                continue  # a live process (another worker) owns it
            try:
                for segment in sorted(folder.glob(f"{_PREFIX}*{_SUFFIX}")):
                    if segment.stat().st_size:
                        into(segment)
                        adopted += 1
                    else:
                        segment.unlink()
                for leftover in folder.iterdir():
                    leftover.unlink()
                folder.rmdir()
            finally:
                os.close(lock)
        return adopted

    def open(self) -> None:
        """Create and lock this process's folder and open its first segment (blocking; at start)."""
        self._loop = asyncio.get_running_loop()
        self.directory = self.root / f"{os.getpid()}-{time.time_ns()}"
        self.directory.mkdir(parents=True, exist_ok=False)
        self._lock_fd = _try_lock(self.directory / _LOCK)
        self._open_segment()

    # -- hot path ------------------------------------------------------------------------------------------
    def append(self, line: bytes) -> None:
        """Queue one encoded record line (ending in a newline) for the next flush. Never raises."""
        self._buffer.append(line)
        self._seq += 1
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def durable(self) -> asyncio.Future[None] | None:
        """None if everything appended is already written; else a future done once it is."""
        if not self._buffer and self._syncing is None:
            return None
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    # -- flushing ------------------------------------------------------------------------------------------
    def _flush(self) -> None:
        self._scheduled = False
        if self._syncing is not None:  # an fsync is running: the next flush follows it
            return
        data, self._buffer = b"".join(self._buffer), []
        waiters, self._waiters = self._waiters, []
        count = self._pending_count(data)
        if self.fsync and data:
            assert self._loop is not None
            self._syncing = self._loop.run_in_executor(None, self._write, data, True)
            self._syncing.add_done_callback(lambda _: self._after_sync(waiters, count))
            return
        self._write(data, False)
        self._account(count)
        _release(waiters)

    def _after_sync(self, waiters: list[asyncio.Future[None]], count: int) -> None:
        self._syncing = None
        self._account(count)
        _release(waiters)
        if self._buffer or self._waiters:
            self._flush()

    @staticmethod
    def _pending_count(data: bytes) -> int:
        return data.count(b"\n")

    def _write(self, data: bytes, sync: bool) -> None:
        if not data or self._fd is None:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if sync:
                os.fdatasync(self._fd)
            self.error = None
        except OSError as exc:  # disk full, I/O error: records still reach the store or the spool
            self.write_failures += 1
            if self.error is None:
                log.error("journal %s not writable (%s): records are not crash-safe until it is", self.directory, exc)
            self.error = f"{type(exc).__name__}: {exc.strerror or exc}"

    def _account(self, count: int) -> None:
        """`count` more records are in the current segment; rotate when it is full."""
        if not self._segments:
            return
        current = self._segments[-1]
        current.end += count
        if current.end - current.first >= self.segment_records:
            self._open_segment()
            self._trim()

    # -- settling ------------------------------------------------------------------------------------------
    def settle_upto(self, seq: int) -> None:
        """Every record numbered below `seq` is settled: delete segments no longer needed."""
        self._settled = seq
        self._trim()

    def _trim(self) -> None:
        while len(self._segments) > 1 and self._segments[0].end <= self._settled:
            _unlink(self._segments.popleft().path)

    def close(self) -> None:
        """Clean shutdown, after the writer settled everything: nothing to replay, remove the folder."""
        if self._buffer:
            self._flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.directory is not None and self._settled >= self._seq:
            for segment in self._segments:
                _unlink(segment.path)
            _unlink(self.directory / _LOCK)
            with contextlib.suppress(OSError):
                self.directory.rmdir()
                self.root.rmdir()  # only if no other process's journal is left in it
        self._segments.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def depth(self) -> int:
        """Records journaled and not yet settled."""
        return self._seq - self._settled

    def _open_segment(self) -> None:
        assert self.directory is not None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        start = self._segments[-1].end if self._segments else self._seq
        path = self.directory / f"{_PREFIX}{start:012d}{_SUFFIX}"
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            self.write_failures += 1
            self.error = f"{type(exc).__name__}: {exc.strerror or exc}"
            log.error("journal segment %s cannot be created (%s)", path, exc)
            return
        self._segments.append(_Segment(path, start, start))


def _try_lock(path: Path) -> int | None:
    """An open fd holding an exclusive flock on `path`, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
