"""Fault-injection helpers: a database cut or hung (TcpProxy), a spool on a full filesystem (a tiny tmpfs)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path


def _load_tcp_proxy() -> type:
    path = Path(__file__).parents[1] / "store" / "_tcp_proxy.py"
    spec = importlib.util.spec_from_file_location("_faults_tcp_proxy", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TcpProxy


TcpProxy = _load_tcp_proxy()


def through(port: int, pg_url: str) -> str:
    """`pg_url` reached through the TcpProxy on `port`."""
    return pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")


class FullDisk:
    """A 512 KiB tmpfs: `fill()` takes every free byte (writes then fail with ENOSPC), `free()` gives them back."""

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
