"""Processes for bench_gateway.py: start pinned to a core, wait until listening, read CPU time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")

#: The PostgreSQL every bench uses by default (`--pg`): the one on this machine.
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def require_tools(*tools: str) -> None:
    """Exit with one line if an OS tool a bench drives is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (apt-get install -y wrk util-linux)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): index 0 is field 3 of the full line."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def cpu_times(pid: int, fields: list[str] | None = None) -> tuple[float, float]:
    """(utime, stime) of the whole process (all its threads) in seconds, from /proc/<pid>/stat (or its `fields`)."""
    fields = stat_fields(pid) if fields is None else fields
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK  # fields 14 and 15 of the full line


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all its threads)."""
    return sum(cpu_times(pid))


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s: {proc.args}")


def start(
    argv: list[str], *, core: int, port: int, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`taskset -c core argv...` (taskset execs, so the pid is the server's own), logs to `log`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(["taskset", "-c", str(core), *argv], stdout=out, stderr=subprocess.STDOUT, env=env)
    wait_listening(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (the gateway drains its writer), then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
