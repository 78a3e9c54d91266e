"""Which spool folder each gateway worker uses, and handing over folders that no worker will use.

Workers never share a spool: a spool is one process's append-and-replay queue, and two processes
replaying (and deleting) the same segments could delete one another's unreplayed records. So worker 1
uses the spool folder a single-process gateway uses (`--spool-dir`, or the one beside the database) and
worker K uses `<that folder>/worker-K/`, each with its journal inside. A worker restarted in slot K
takes over slot K: it replays what its killed predecessor journaled and spooled (inserts are idempotent
by record id, so nothing is doubled).

A run with fewer workers than the last one would leave slots nobody replays; `merge_unused_slots` moves
their journals and spool segments into slot 1 before any worker starts. Records the store refused for
good (`rejected.jsonl`) are moved into slot 1's folder, where `majordomo records` looks, at start and once
every worker has stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from .settings import Settings
from .store import default_spool_dir
from .store._journal import _LOCK as JOURNAL_LOCK
from .store._journal import JOURNAL_DIR, Journal
from .store._rejected import rejected_files
from .store._spool import OWNER_LOCK, REJECTED_FILE, Spool

log = logging.getLogger("majordomo_otel.gateway")

_SLOT_PREFIX = "worker-"


def spool_root(settings: Settings) -> Path:
    """The spool folder of a single-process gateway, which is worker 1's and holds the others'."""
    return Path(settings.spool_dir) if settings.spool_dir else default_spool_dir(settings.database_url)


def slot_dir(root: Path, slot: int) -> Path:
    """Worker `slot`'s spool folder (1-based): `root` itself for worker 1, `root/worker-K` for the others."""
    return root if slot == 1 else root / f"{_SLOT_PREFIX}{slot}"


def spool_folders(root: Path) -> list[Path]:
    """Every spool folder under `root`: its own (worker 1's) and each other worker's, by slot number.

    What `majordomo records` reads while `--workers N` runs: each worker sets aside its own rejected records."""
    return [root, *(folder for _, folder in _slots(root))]


def _slots(root: Path) -> list[tuple[int, Path]]:
    found = []
    for folder in root.glob(f"{_SLOT_PREFIX}*") if root.is_dir() else ():
        number = folder.name.removeprefix(_SLOT_PREFIX)
        if folder.is_dir() and number.isdigit() and int(number) > 1:
            found.append((int(number), folder))
    return sorted(found)


def merge_unused_slots(root: Path, workers: int) -> int:
    """Move what slots above `workers` hold into slot 1 (call it before any worker starts); returns how many
    journal and spool segments moved. A slot whose journal a live process holds is left alone."""
    moved = 0
    if _in_use(root, journals=False):
        return 0  # another live gateway owns this spool: its writer refuses to start below, with the reason
    main = Spool(root)
    for slot, folder in _slots(root):
        if slot <= workers:
            continue
        if _in_use(folder):
            log.warning("spool %s is in use by a running process: not merged into %s", folder, root)
            continue
        moved += Journal(folder).adopt_orphans(main.adopt)
        for segment in Spool(folder).segments():
            main.adopt(segment)
            moved += 1
        move_rejected(folder, root)
        for leftover in (folder / JOURNAL_DIR, folder):
            with contextlib.suppress(OSError):
                leftover.rmdir()
    if moved:
        log.info("spool: %d segment(s) of workers this run does not start moved to %s: replaying", moved, root)
    return moved


def move_rejected(source: Path, root: Path) -> int:
    """Append `source`'s rejected records to `root/rejected.jsonl` (fsynced), then remove them from `source`."""
    moved = 0
    for path in rejected_files(source):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            data += b"\n"  # a torn last line stays a line of its own (import reports it unreadable)
        fd = os.open(root / REJECTED_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        moved += data.count(b"\n")
    return moved


def collect_rejected(root: Path, workers: int) -> int:
    """Every slot's rejected records into slot 1's folder (once all workers have stopped)."""
    return sum(move_rejected(folder, root) for slot, folder in _slots(root) if slot <= workers)


def _in_use(folder: Path, *, journals: bool = True) -> bool:
    """Whether a live process owns `folder` (the spool's `flock`) or holds one of its journal locks."""
    if (folder / OWNER_LOCK).exists():
        fd = os.open(folder / OWNER_LOCK, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the spool's lock is a POSIX one (see _spool.py)
        except OSError:
            return True
        finally:
            os.close(fd)
    if not journals:
        return False
    for lock in (folder / JOURNAL_DIR).glob(f"*/{JOURNAL_LOCK}"):
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False
