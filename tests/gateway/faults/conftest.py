"""Fixtures of the fault-injection suite (helpers in _faults.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _faults import FullDisk
from gateway_harness import TcpProxy


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[Any]:
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        yield proxy


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[FullDisk]:
    """Needs `mount` (root, as in CI); a machine without it fails this test, never skips it."""
    mountpoint = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mountpoint)], check=True)
    try:
        yield FullDisk(mountpoint)
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):
            os.rmdir(mountpoint)
