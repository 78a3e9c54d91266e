"""Write-ahead journal: every record is in the OS page cache before its response's last byte leaves.

The writer's queue and the batch in flight live in memory; without the journal a SIGKILL (an OOM kill,
an orchestrator's hard kill) would lose the records of responses the client already has, which the
provider bills. So `RecordWriter.submit` also appends the record's spool line here.

Cost: a segment is a file mapped with `mmap(MAP_SHARED)`, so an append is a copy into the page cache:
no system call, no future, no extra turn of the event loop before the response ends. A killed process
loses nothing it copied (the pages belong to the kernel, which writes them out). Each segment's blocks
are reserved with `posix_fallocate` when it is created, so a full disk fails there, as an error the
gateway reports, never as a SIGBUS on a later copy. `fsync=True` adds an `fdatasync` after the appends of
each event-loop iteration, on a thread, and `durable()` then waits for it: power-loss safety at the
cost of a disk flush per batch. Off by default.

Layout: `<spool dir>/journal/<pid>-<start ns>/journal-<seq>.jsonl`, one folder per process, locked
with `flock` for the process's lifetime. A segment is a run of record lines, then zero bytes up to its
reserved size (JSON lines never hold a zero byte). Records are numbered in submit order; the writer
settles them (stored, spooled or set aside) in the same order and reports how many, so a segment is
deleted once every record in it is settled. At start, folders whose lock is free belong to dead
processes: their segments, cut at the first zero byte, become spool segments and are replayed like a
spool (inserts are idempotent by record id, so records both journaled and stored are not doubled).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
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
SEGMENT_BYTES = 4 << 20  # ~4,000 records; reserved up front, so a nearly full disk gets smaller ones
_SHARE_OF_FREE = 8  # a segment takes at most this share of the free space: the spool needs room too
_SMALLEST = mmap.PAGESIZE * 16
RETRY_SECONDS = 1.0  # how often appends try again to create a segment after a failure (full disk)


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int  # sequence number of its first record
    end: int  # one past its last record


class Journal:
    def __init__(
        self,
        spool_dir: str | Path,
        *,
        fsync: bool = False,
        segment_bytes: int = SEGMENT_BYTES,
        retry_after: float = RETRY_SECONDS,
    ) -> None:
        self.root = Path(spool_dir) / JOURNAL_DIR
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.retry_after = retry_after
        self.directory: Path | None = None
        self._lock_fd: int | None = None
        self._fd: int | None = None  # the current segment, mapped at _map, filled up to _used
        self._map: mmap.mmap | None = None
        self._used = 0
        self._segments: deque[_Segment] = deque()
        self._seq = 0  # records appended so far
        self._settled = 0  # records the writer has settled so far
        self._retry_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        # fsync=True only: fds with copies not yet flushed, and the flush under way
        self._unsynced: list[int] = []
        self._retired: list[int] = []  # rotated segments' fds, closed once flushed
        self._scheduled = False
        self._waiters: list[asyncio.Future[None]] = []
        self._syncing: asyncio.Future[OSError | None] | None = None
        #: the last failure, if the journal cannot be written (disk full); records still flow
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
                    if _cut_at_zeros(segment):
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
        self._open_segment(0)

    # -- hot path ------------------------------------------------------------------------------------------
    def append(self, line: bytes) -> None:
        """Copy one encoded record line (ending in a newline) into the current segment. Never raises."""
        seq, self._seq = self._seq, self._seq + 1
        if self.directory is None:
            return
        n = len(line)
        used = self._used
        mapped = self._map
        if mapped is None or used + n > len(mapped):
            if mapped is None and time.monotonic() < self._retry_at:
                return  # no segment (disk full): not crash-safe until one can be created
            if not self._open_segment(n, seq):
                return
            mapped, used = self._map, 0
            assert mapped is not None
        mapped[used : used + n] = line
        self._used = used + n
        self._segments[-1].end = seq + 1
        if self.fsync:
            self._schedule_sync()

    def durable(self) -> asyncio.Future[None] | None:
        """None if everything appended survives what the journal promises; else a future done once it does.

        Without fsync that is always None: a copy into the page cache survives a SIGKILL."""
        if not self._scheduled and self._syncing is None:
            return None
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    # -- fsync=True ----------------------------------------------------------------------------------------
    def _schedule_sync(self) -> None:
        assert self._fd is not None
        if not self._unsynced or self._unsynced[-1] != self._fd:
            self._unsynced.append(self._fd)
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._sync)

    def _sync(self) -> None:
        """Flush the copies of this loop iteration on a thread; the next flush waits for this one."""
        if self._syncing is not None:
            return  # _after_sync starts the next one
        self._scheduled = False
        fds, self._unsynced = self._unsynced, []
        waiters, self._waiters = self._waiters, []
        assert self._loop is not None
        syncing = self._syncing = self._loop.run_in_executor(None, _flush, fds)
        syncing.add_done_callback(lambda _: self._after_sync(syncing, waiters))

    def _after_sync(self, syncing: asyncio.Future[OSError | None], waiters: list[asyncio.Future[None]]) -> None:
        self._syncing = None
        if (exc := syncing.result()) is not None:
            self._failed("not flushed to disk", exc)
        _release(waiters)
        self._close_retired()
        if self._scheduled:
            self._sync()
        else:  # asked for while this flush ran, about records it covered
            waiters, self._waiters = self._waiters, []
            _release(waiters)

    def _close_retired(self) -> None:
        keep = set(self._unsynced)
        for fd in [fd for fd in self._retired if fd not in keep]:
            self._retired.remove(fd)
            os.close(fd)

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
        self._retire_current()
        if self._syncing is None:
            for fd in self._retired:
                os.close(fd)
            self._retired.clear()
        if self.directory is not None and self._settled >= self._seq:
            for segment in self._segments:
                _unlink(segment.path)
            _unlink(self.directory / _LOCK)
            with contextlib.suppress(OSError):
                self.directory.rmdir()
                self.root.rmdir()  # only if no other process's journal is left in it
        self._segments.clear()
        self.directory = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def depth(self) -> int:
        """Records journaled and not yet settled."""
        return self._seq - self._settled

    # -- segments ------------------------------------------------------------------------------------------
    def _open_segment(self, need: int, first: int | None = None) -> bool:
        """Retire the current segment and map a new one with room for `need` bytes; False if none can be made."""
        assert self.directory is not None
        self._retire_current()
        first = self._seq if first is None else first
        path = self.directory / f"{_PREFIX}{first:012d}{_SUFFIX}"
        smallest = _pages(max(_SMALLEST, need))
        size = max(smallest, min(self.segment_bytes, _pages(_free_bytes(self.directory) // _SHARE_OF_FREE)))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            self._failed(f"segment {path.name} cannot be created", exc)
            return False
        try:
            while True:  # a nearly full disk still takes a smaller segment
                try:
                    _reserve(fd, size)
                    break
                except OSError as exc:
                    if size <= smallest or exc.errno not in _NO_SPACE:
                        raise
                    size = max(smallest, size // 2)
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_WRITE | mmap.PROT_READ)
        except OSError as exc:
            os.close(fd)
            _unlink(path)
            self._failed(f"segment {path.name} cannot be reserved", exc)
            return False
        self._fd, self._used = fd, 0
        self._segments.append(_Segment(path, first, first))
        self._trim()
        if self.error is not None:
            log.info("journal %s writable again", self.directory)
        self.error = None
        return True

    def _retire_current(self) -> None:
        """Unmap the current segment and give back its unused reserved bytes (a crash later needs no cut)."""
        if self._map is None or self._fd is None:
            return
        self._map.close()
        self._map = None
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._used)
        if self.fsync and (self._fd in self._unsynced or self._syncing is not None):
            # closed once its last copies are flushed: a flush under way may hold this fd, and closing it
            # now would let the next segment take its number, so that flush would miss this segment
            self._retired.append(self._fd)
        else:
            os.close(self._fd)
        self._fd = None

    def _failed(self, what: str, exc: OSError) -> None:
        self.write_failures += 1
        self._retry_at = time.monotonic() + self.retry_after
        if self.error is None:
            log.error("journal %s: %s (%s): records are not crash-safe until it is", self.directory, what, exc)
        self.error = f"{type(exc).__name__}: {exc.strerror or exc}"


_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _flush(fds: list[int]) -> OSError | None:
    """fdatasync each fd (on a thread); the first failure, if any."""
    failure = None
    for fd in fds:
        try:
            os.fdatasync(fd)
        except OSError as exc:
            failure = failure or exc
    return failure


def _reserve(fd: int, size: int) -> None:
    """Allocate `size` bytes of disk for `fd` now, so no later copy into its mapping can find the disk full."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:  # pragma: no cover - macOS: write the zeros
        os.pwrite(fd, bytes(size), 0)


def _pages(size: int) -> int:
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE


def _free_bytes(directory: Path) -> int:
    try:
        stat = os.statvfs(directory)
    except OSError:
        return SEGMENT_BYTES * _SHARE_OF_FREE
    return stat.f_bavail * stat.f_frsize


def _cut_at_zeros(segment: Path) -> int:
    """Truncate a dead process's segment after its last copied byte; return the bytes left."""
    size = segment.stat().st_size
    if not size:
        return 0
    with open(segment, "r+b") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mapped:
        end = mapped.find(b"\0")
    if end >= 0:
        os.truncate(segment, end)
        return end
    return size


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
