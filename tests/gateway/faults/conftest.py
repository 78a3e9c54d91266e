"""Fixtures of the fault-injection suite (helpers in _faults.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _faults import FullDisk, tmpfs_disk
from gateway_harness import TcpProxy


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[Any]:
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        yield proxy


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[FullDisk]:
    """A 512 KiB tmpfs that `fill()` makes full and `free()` gives back."""
    with tmpfs_disk(tmp_path, "512k") as disk:
        yield disk
