"""The write-ahead journal on its own: what a SIGKILLed process leaves is exactly what it appended, in
order, across segment rotations; settled segments are deleted; a clean close leaves nothing behind; with
fsync on, `durable()` waits for the disk.

The kills are real: a child process appends and then SIGKILLs itself, with nothing flushed or closed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _store_helpers import make_record

from majordomo_otel.gateway.store._codec import record_to_line
from majordomo_otel.gateway.store._journal import JOURNAL_DIR, Journal
from majordomo_otel.gateway.store._spool import Spool

SMALL = 64 << 10  # the smallest segment the journal makes


def _lines(count: int, *, start: int = 0, note: str = "naïve ✓") -> list[bytes]:
    """Journal lines of `count` records (~1 kB each), as the writer appends them."""
    return [record_to_line(make_record(i, raw_metadata={"Note": note})) for i in range(start, start + count)]


def _append_then_sigkill(spool: Path, lines: list[bytes], *, segment_bytes: int, settle_upto: int = 0) -> None:
    """In a child process: open a journal, append `lines`, settle, and SIGKILL itself before anything else."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from majordomo_otel.gateway.store._journal import Journal

        async def main():
            journal = Journal({str(spool)!r}, segment_bytes={segment_bytes})
            journal.open()
            for line in sys.stdin.buffer.read().splitlines(keepends=True):
                journal.append(line)
            journal.settle_upto({settle_upto})
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], input=b"".join(lines), capture_output=True, check=False)
    assert (proc.returncode, proc.stderr) == (-signal.SIGKILL, b"")


def _adopted(spool: Path) -> list[bytes]:
    """What a new process replays: the orphaned segments' lines, in order (through the spool, as at start)."""
    into = Spool(spool / "replay", fsync=False)
    Journal(spool).adopt_orphans(into.adopt)
    return [line for segment in into.segments() for line in segment.read_bytes().splitlines(keepends=True)]


def test_a_sigkilled_process_leaves_exactly_what_it_appended(tmp_path: Path) -> None:
    lines = _lines(50)
    _append_then_sigkill(tmp_path, lines, segment_bytes=SMALL)
    assert _adopted(tmp_path) == lines


def test_appends_across_rotations_are_all_replayed_in_order(tmp_path: Path) -> None:
    lines = _lines(1000)  # ~900 kB: fifteen 64 KiB segments
    _append_then_sigkill(tmp_path, lines, segment_bytes=SMALL)
    assert (len(list((tmp_path / JOURNAL_DIR).rglob("journal-*.jsonl"))), _adopted(tmp_path)) == (15, lines)


def test_segments_whose_records_are_all_settled_are_deleted(tmp_path: Path) -> None:
    lines = _lines(1000)
    _append_then_sigkill(tmp_path, lines, segment_bytes=SMALL, settle_upto=600)
    replayed = _adopted(tmp_path)
    # whole segments go: the one holding record 600 stays, so replay starts at or before it (and inserts are
    # idempotent by id), and never later
    assert (replayed[-400:], len(replayed) < 1000, replayed == lines[-len(replayed) :]) == (lines[-400:], True, True)


def test_a_line_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    lines = [*_lines(3), *_lines(1, start=3, note="x" * 200_000), *_lines(3, start=4)]
    _append_then_sigkill(tmp_path, lines, segment_bytes=SMALL)
    assert _adopted(tmp_path) == lines


def test_a_torn_last_line_is_not_replayed(tmp_path: Path) -> None:
    """A copy cut short by the kill: the line lacks its newline, and the spool drops it (never acknowledged)."""
    lines = _lines(3)
    folder = tmp_path / JOURNAL_DIR / "123-456"
    folder.mkdir(parents=True)
    (folder / "journal-000000000000.jsonl").write_bytes(b"".join(lines) + lines[0][:40] + bytes(SMALL))
    spool = Spool(tmp_path / "replay", fsync=False)
    Journal(tmp_path).adopt_orphans(spool.adopt)
    chunk = spool.read_chunk(10)
    assert chunk is not None
    assert ([r.input_tokens for r in chunk.records], chunk.lines) == ([1200, 1201, 1202], 4)


async def test_a_clean_close_after_everything_settled_leaves_no_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=SMALL)
    journal.open()
    for line in _lines(1000):
        journal.append(line)
    journal.settle_upto(1000)
    journal.close()
    assert os.listdir(tmp_path) == []


async def test_a_clean_close_with_unsettled_records_keeps_them_exactly(tmp_path: Path) -> None:
    lines = _lines(10)
    journal = Journal(tmp_path, segment_bytes=SMALL)
    journal.open()
    for line in lines:
        journal.append(line)
    journal.close()
    assert [p.stat().st_size for p in (tmp_path / JOURNAL_DIR).rglob("journal-*")] == [len(b"".join(lines))]
    assert _adopted(tmp_path) == lines


async def test_without_fsync_an_append_needs_no_wait(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.append(_lines(1)[0])
    assert (journal.durable(), journal.depth) == (None, 1)
    journal.close()


async def test_with_fsync_durable_waits_for_the_flush_of_every_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path, fsync=True, segment_bytes=SMALL)
    journal.open()
    waits = []
    for line in _lines(600):  # two rotations while flushes are in flight
        journal.append(line)
        if (waiter := journal.durable()) is not None:
            waits.append(waiter)
        if len(waits) % 50 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*waits), 10)
    assert (len(waits), journal.durable(), journal.error, journal.write_failures) == (600, None, None, 0)
    journal.settle_upto(600)
    journal.close()
    assert os.listdir(tmp_path) == []


def test_a_placeholder_line_keeps_the_numbering_and_is_not_replayed(tmp_path: Path) -> None:
    """The writer appends a bare newline for a record it cannot encode, so journal and submit numbers agree."""
    lines = _lines(2)
    _append_then_sigkill(tmp_path, [lines[0], b"\n", lines[1]], segment_bytes=SMALL, settle_upto=0)
    spool = Spool(tmp_path / "replay", fsync=False)
    Journal(tmp_path).adopt_orphans(spool.adopt)
    chunk = spool.read_chunk(10)
    assert chunk is not None
    assert ([r.input_tokens for r in chunk.records], chunk.lines) == ([1200, 1201], 3)


async def test_with_fsync_a_segment_rotated_while_its_flush_runs_is_flushed_before_it_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow disk: the flush thread starts late, after the segment it was given is full and rotated. It must
    still flush that segment (its fd not closed, nor its number taken by the next segment meanwhile)."""
    flushed: set[str] = set()
    fdatasync = os.fdatasync

    def slow_fdatasync(fd: int) -> None:
        time.sleep(0.02)
        flushed.add(os.readlink(f"/proc/self/fd/{fd}"))
        fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    journal = Journal(tmp_path, fsync=True, segment_bytes=SMALL)
    journal.open()
    assert journal.directory is not None
    lines = _lines(80)
    fits = next(k for k in range(len(lines)) if sum(map(len, lines[: k + 1])) > SMALL)  # lines in one segment
    for line in lines[:fits]:  # the first segment, full
        journal.append(line)
    await asyncio.sleep(0)  # its flush starts on a thread
    journal.append(lines[fits])  # and cannot get going before this line rotates the segment
    waiter = journal.durable()
    assert waiter is not None
    await asyncio.wait_for(waiter, 10)
    segments = sorted(str(p) for p in journal.directory.glob("journal-*"))
    assert (len(segments), sorted(flushed), journal.error) == (2, segments, None)
    journal.settle_upto(fits + 1)
    journal.close()
