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

The methods block: the writer calls them one at a time from a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store._codec import record_from_json, record_to_json

log = logging.getLogger("majordomo_otel.gateway.store")

_PREFIX, _SUFFIX = "spool-", ".jsonl"
REJECTED_FILE = "rejected.jsonl"


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

    # -- setup ---------------------------------------------------------------------------------------------
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
        if not records:
            return
        if self._out is None or self._out_count >= self.segment_records:
            self._open_new_segment()
        assert self._out is not None
        lines = []
        for r in records:
            try:
                lines.append(record_to_json(r) + "\n")
            except Exception as exc:  # a value JSON cannot hold: set it aside rather than block the spool
                self.reject([r], f"cannot spool record: {exc!r}")
        self._out.write("".join(lines).encode())
        self._out.flush()
        if self.fsync:
            os.fsync(self._out.fileno())
        self._out_count += len(lines)
        self.depth += len(lines)

    def _open_new_segment(self) -> None:
        self._close_out()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_PREFIX}{self._next_seq:012d}{_SUFFIX}"
        self._next_seq += 1
        self._out = open(path, "ab")  # noqa: SIM115 - kept open across appends
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
        lines = [json.dumps({"error": reason, "record": r.as_row()}, default=str) for r in records]
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


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
