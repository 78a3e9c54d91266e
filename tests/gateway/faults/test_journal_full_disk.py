"""The journal on a full disk: a segment's blocks are reserved when it is made, so copies into it never
meet a full disk (which, through a memory map, would be a SIGBUS that kills the gateway); a segment that
cannot be made is an error the writer reports, appends go on, and the journal recovers once there is room."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from _faults import FullDisk

from majordomo_otel.gateway.store._journal import JOURNAL_DIR, Journal
from majordomo_otel.gateway.store._spool import Spool

LINE = b'{"id":"' + b"x" * 1000 + b'"}\n'
FITS = (64 << 10) // len(LINE)  # lines in one 64 KiB segment (an eighth of the 512 KiB disk)


def test_appends_into_a_reserved_segment_survive_a_full_disk_and_a_sigkill(full_disk: FullDisk) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from _faults import FullDisk
        from majordomo_otel.gateway.store._journal import Journal

        async def main():
            journal = Journal({str(full_disk.path)!r}, segment_bytes=64 << 10)
            journal.open()
            FullDisk(__import__("pathlib").Path({str(full_disk.path)!r})).fill()
            for _ in range({FITS}):  # the whole reserved segment, every page first touched now
                journal.append({LINE!r})
            assert journal.error is None, journal.error
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    full_disk.free()
    spool = Spool(full_disk.path / "replay", fsync=False)
    Journal(full_disk.path).adopt_orphans(spool.adopt)
    replayed = b"".join(segment.read_bytes() for segment in spool.segments())
    assert (proc.returncode, proc.stderr[-300:], replayed) == (-signal.SIGKILL, b"", LINE * FITS)


async def test_a_nearly_full_disk_still_takes_a_smaller_segment(full_disk: FullDisk) -> None:
    journal = Journal(full_disk.path)  # 4 MiB segments on a 512 KiB disk: an eighth of the free space
    journal.open()
    journal.append(LINE)
    segments = list((full_disk.path / JOURNAL_DIR).rglob("journal-*"))
    assert (journal.error, len(segments), segments[0].stat().st_size <= 64 << 10) == (None, 1, True)
    journal.settle_upto(1)
    journal.close()


async def test_a_segment_that_cannot_be_made_is_reported_and_made_once_there_is_room(full_disk: FullDisk) -> None:
    journal = Journal(full_disk.path, segment_bytes=64 << 10, retry_after=0.2)
    journal.open()
    full_disk.fill()
    for _ in range(100):  # ~100 kB: the second segment cannot be reserved
        journal.append(LINE)
    during = (journal.error, journal.depth)
    full_disk.free()
    journal.append(LINE)  # within the retry interval: not tried again
    still = journal.error
    await asyncio.sleep(0.25)
    journal.append(LINE)
    journal.close()
    replayed = _replayed(full_disk.path)
    assert (during, still, journal.error, replayed.count(b"\n")) == (
        ("OSError: No space left on device", 100),
        "OSError: No space left on device",
        None,
        FITS + 1,  # the first segment's records and the one after recovery; the rest were not crash-safe
    )


def _replayed(spool_dir: Path) -> bytes:
    spool = Spool(spool_dir / "replay", fsync=False)
    Journal(spool_dir).adopt_orphans(spool.adopt)
    return b"".join(segment.read_bytes() for segment in spool.segments())
