"""Fault-injection helpers: a database reached through a TcpProxy, a spool on a full filesystem (a tiny tmpfs)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path


def through(port: int, pg_url: str) -> str:
    """`pg_url` reached through the TcpProxy on `port`."""
    return pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")


@contextlib.contextmanager
def tmpfs_disk(parent: Path, size: str) -> Iterator[FullDisk]:
    """A tmpfs of `size` under `parent`, as a `FullDisk`. Needs `mount` (root, as in CI): a machine without
    it fails the test, never skips it."""
    mountpoint = parent / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], check=True)
    try:
        yield FullDisk(mountpoint)
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):
            os.rmdir(mountpoint)


class FullDisk:
    """A tiny tmpfs (`tmpfs_disk`): `fill()` takes every free byte (writes then fail with ENOSPC), `free()`
    gives them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / ".filler"

    def fill(self) -> None:
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)
