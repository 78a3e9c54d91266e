"""Fixtures of the replicas tests: HAProxy (never skipped: a missing binary fails), a disk that fills.

`_fleet` (gateway processes, load, rows) lives in ../workers/ and `FullDisk` in ../faults/: test folders
are not packages, so both are loaded by path, once, under their own names.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_GATEWAY_TESTS = Path(__file__).parents[1]
_load("_fleet", _GATEWAY_TESTS / "workers" / "_fleet.py")
FullDisk = _load("_faults", _GATEWAY_TESTS / "faults" / "_faults.py").FullDisk


@pytest.fixture
def haproxy() -> str:
    """The haproxy binary. Missing, the test fails (CI installs it: `apt-get install -y haproxy`)."""
    binary = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if binary is None:
        pytest.fail("haproxy is not installed: apt-get install -y haproxy (.ci/run installs it)")
    return binary


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Any]:
    """A 16 MiB tmpfs (`mount`: root, as in CI) that `fill()` makes full and `free()` gives back."""
    mountpoint = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield FullDisk(mountpoint)
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):
            os.rmdir(mountpoint)
