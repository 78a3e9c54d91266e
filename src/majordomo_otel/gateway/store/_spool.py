"""Append-only on-disk spool: JSON lines in numbered segment files, replayed in order.

Layout: `<dir>/spool-000000000001.jsonl`, `…2.jsonl`, … one record per line. A segment is deleted only
after every record in it was written to the store, so a crash mid-replay replays that segment again,
which is harmless because the store's inserts are idempotent by record id. Each process appends to a new
segment (never to a file a crashed process may have left with a torn last line).

fsync policy (`fsync=True`, the default): every `append` is flushed and fsynced before it returns, and the
folder is fsynced when a segment is created or deleted, so an acknowledged append survives power loss.
With `fsync=False` appends reach the OS page cache only (survive a process crash, not power loss).

Records the store rejects for good (bad data) go to `rejected.jsonl` beside the segments instead of
blocking the spool forever.

One process owns a spool folder at a time (`claim`: a POSIX lock on `.owner.lock`, held until `close` or the
process's end; per process, so a writer restarted in the same process takes it over): two
gateways replaying and deleting the same segments could delete each other's unreplayed records, so a
second one pointed at a folder in use refuses to start.

The methods block: the writer calls them one at a time from a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store._codec import record_from_json, record_to_dict, record_to_line

log = logging.getLogger("majordomo_otel.gateway.store")

_PREFIX, _SUFFIX = "spool-", ".jsonl"
REJECTED_FILE = "rejected.jsonl"
OWNER_LOCK = ".owner.lock"


class SpoolInUse(RuntimeError):
    """Another running process owns this spool folder."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records read from one segment, and where the next read starts once they are stored."""

    records: list[RequestRecord]
    segment: Path
    end_offset: int
    #: lines consumed, including unreadable ones (moved to rejected.jsonl)
    lines: int


class Spool:
    def __init__(self, directory: str | Path, *, fsync: bool = True, segment_records: int = 10_000) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.segment_records = segment_records
        #: records on disk not yet replayed
        self.depth = 0
        self._next_seq = 1
        self._out: IO[bytes] | None = None
        self._out_path: Path | None = None
        self._out_count = 0
        self._cursor: tuple[Path, int] | None = None
        self._owner_fd: int | None = None

    # -- setup --------------------------------------------------------------------------------------------
    def claim(self) -> None:
        """Own the folder for this process's lifetime; `SpoolInUse` if another live process does. A folder
        that cannot even hold the lock file (read-only, disk full) is not refused: the writer reports it."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("spool %s: cannot create its lock file (%s)", self.directory, exc.strerror or exc)
            return
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolInUse(
                f"spool folder {self.directory} is in use by another running gateway: give each gateway its own "
                "(--spool-dir or MAJORDOMO_SPOOL_DIR), or use --workers N for several processes on one host"
            ) from None
        self._owner_fd = fd

    def scan(self) -> int:
        """Find segments left by earlier processes; returns the number of records waiting."""
        self.directory.mkdir(parents=True, exist_ok=True)
        segments = self.segments()
        self.depth = sum(_count_lines(p) for p in segments)
        if segments:
            self._next_seq = int(segments[-1].name[len(_PREFIX) : -len(_SUFFIX)]) + 1
        return self.depth

    def segments(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX))

    # -- append --------------------------------------------------------------------------------------------
    def append(self, records: Sequence[RequestRecord]) -> None:
        """Append whole lines or nothing: a failed write (disk full) is cut back, so no torn line is left
        between two good ones; the exception tells the writer to keep the records elsewhere."""
        if not records:
            return
        lines = []
        for r in records:
            try:
                lines.append(record_to_line(r))
            except Exception as exc:  # a value JSON cannot hold: set it aside rather than block the spool
                self.reject([r], f"cannot spool record: {exc!r}")
        if not lines:
            return
        if self._out is None or self._out_count >= self.segment_records:
            self._open_new_segment()
        assert self._out is not None
        fd = self._out.fileno()
        before = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(b"".join(lines))
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise
        self._out_count += len(lines)
        self.depth += len(lines)

    def adopt(self, segment: Path) -> None:
        """Take over a file of record lines (a dead process's journal) as the next spool segment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        if existing:
            self._next_seq = max(self._next_seq, int(existing[-1].name[len(_PREFIX) : -len(_SUFFIX)]) + 1)
        segment.rename(self.directory / f"{_PREFIX}{self._next_seq:012d}{_SUFFIX}")
        self._next_seq += 1
        if self.fsync:
            _fsync_dir(self.directory)

    def probe(self) -> None:
        """Prove the folder takes a write now (a real write and fsync, not a permission check); raises if not."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / ".probe"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok\n" * 1024)
            os.fsync(fd)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)

    def _open_new_segment(self) -> None:
        self._close_out()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_PREFIX}{self._next_seq:012d}{_SUFFIX}"
        self._next_seq += 1
        self._out = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across appends
        self._out_path, self._out_count = path, 0
        if self.fsync:
            _fsync_dir(self.directory)

    def _close_out(self) -> None:
        if self._out is not None:
            self._out.close()
        self._out, self._out_path, self._out_count = None, None, 0

    # -- replay --------------------------------------------------------------------------------------------
    def read_chunk(self, max_records: int) -> Chunk | None:
        """The next records to replay, oldest first; None when the spool is empty."""
        while True:
            segments = self.segments()
            if not segments:
                self.depth = 0
                return None
            segment = segments[0]
            offset = self._cursor[1] if self._cursor and self._cursor[0] == segment else 0
            records: list[RequestRecord] = []
            lines = 0
            with open(segment, "rb") as f:
                f.seek(offset)
                while len(records) < max_records:
                    line = f.readline()
                    if not line:
                        break
                    if not line.endswith(b"\n"):
                        # A torn write from a crashed process: that record was never acknowledged.
                        log.warning("spool %s: dropping torn last line (%d bytes)", segment.name, len(line))
                        lines += 1
                        offset += len(line)
                        continue
                    lines += 1
                    offset += len(line)
                    if line == b"\n":  # a journal's placeholder for a record it could not encode
                        continue
                    try:
                        records.append(record_from_json(line))
                    except Exception as exc:
                        self._reject_line(line, f"unreadable spool line: {exc!r}")
            if lines:
                return Chunk(records, segment, offset, lines)
            self._finish_segment(segment)  # nothing left in it

    def commit(self, chunk: Chunk) -> None:
        """`chunk` is stored: move past it, deleting its segment once fully replayed."""
        self.depth = max(0, self.depth - chunk.lines)
        self._cursor = (chunk.segment, chunk.end_offset)
        if chunk.end_offset >= chunk.segment.stat().st_size:
            self._finish_segment(chunk.segment)

    def _finish_segment(self, segment: Path) -> None:
        if segment == self._out_path:
            self._close_out()
        segment.unlink(missing_ok=True)
        if self.fsync:
            _fsync_dir(self.directory)
        self._cursor = None

    # -- dead letters --------------------------------------------------------------------------------------
    def reject(self, records: Sequence[RequestRecord], reason: str) -> None:
        """Keep records the store refused, re-importable (`majordomo records import`); ASCII-escaped, so a
        value no encoder takes (a lone surrogate) is still kept exactly."""
        lines = [json.dumps({"error": reason, "record": record_to_dict(r)}, default=str) for r in records]
        self._append_rejected(lines)

    def _reject_line(self, line: bytes, reason: str) -> None:
        self._append_rejected([json.dumps({"error": reason, "line": line.decode(errors="replace")})])

    def _append_rejected(self, lines: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / REJECTED_FILE, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())

    def close(self) -> None:
        self._close_out()
        if self._owner_fd is not None:
            os.close(self._owner_fd)  # releases the lock
            self._owner_fd = None


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
