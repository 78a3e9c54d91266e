"""Fixtures of the replicas tests: HAProxy (never skipped: a missing binary fails), a disk that fills.

`_fleet` (gateway processes, load, rows) lives in ../workers/ and `tmpfs_disk` in ../faults/: test folders
are not packages, so both are loaded by path, once, under their own names.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
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
_faults = _load("_faults", _GATEWAY_TESTS / "faults" / "_faults.py")


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
    with _faults.tmpfs_disk(tmp_path, "16m") as disk:
        yield disk
