"""Three `majordomo gateway` replicas on one PostgreSQL behind a real HAProxy running examples/haproxy/haproxy.cfg.

Each replica reaches the database through a TcpProxy of its own, so the test can stop and start "the
database" for one replica or for all without touching the server other tests share. The stand-in
upstream runs as its own process (`python -m majordomo_otel.sim`), so the replicas, HAProxy and the load
never compete with it for this process's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from _fleet import CLI, GatewayProcess, clean_env, free_port, through
from gateway_harness import TcpProxy

from majordomo_otel.gateway.keys import create_key
from majordomo_otel.gateway.store import open_store

CONFIG = Path(__file__).parents[3] / "examples" / "haproxy" / "haproxy.cfg"
REPLICAS = ("gw1", "gw2", "gw3")  # the config's server names, and the X-Majordomo-Replica values
REPLICA_HEADER = "X-Majordomo-Replica"
CHECK_INTERVAL = "200ms"  # the config's health-check interval, shortened (fall 2, rise 2 as written)
KEY_CACHE_TTL = 1.0  # seconds: the documented bound on revocation reaching every replica


class HAProxy:
    """`haproxy -db -f examples/haproxy/haproxy.cfg`, its variables pointing at the replicas."""

    def __init__(self, binary: str, replicas: dict[str, int], log: Path) -> None:
        self.port, self.stats_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = clean_env(
            MAJORDOMO_LB_BIND=f"127.0.0.1:{self.port}",
            MAJORDOMO_LB_STATS=f"127.0.0.1:{self.stats_port}",
            MAJORDOMO_LB_CHECK_INTERVAL=CHECK_INTERVAL,
            **{f"MAJORDOMO_{name.upper()}": f"127.0.0.1:{port}" for name, port in replicas.items()},
        )
        self.argv = [binary, "-db", "-f", str(CONFIG)]
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out)

    async def states(self, http: aiohttp.ClientSession) -> dict[str, str]:
        """Each replica's state as HAProxy sees it (`UP`, `DOWN`, or on its way: `UP 1/2`, `DOWN 1/2`)."""
        async with http.get(f"http://127.0.0.1:{self.stats_port}/;csv") as resp:
            text = (await resp.text()).removeprefix("# ")
        return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(text)) if row["svname"] in REPLICAS}

    async def until(self, http: aiohttp.ClientSession, **wanted: str) -> float:
        """Wait until HAProxy shows every replica named in `wanted` in that state; when it was seen."""
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                states = await self.states(http)
                if all(states.get(name) == state for name, state in wanted.items()):
                    return time.monotonic()
            assert self.proc is not None
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, f"HAProxy never showed {wanted}: {states}"
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Fleet:
    """Sim, three replicas (each with its own spool and TcpProxy to PostgreSQL), HAProxy; keys `load` and `revoked`."""

    def __init__(self, haproxy: str, pg_url: str, tmp: Path, *, spools: dict[str, Path] | None = None) -> None:
        self.pg_url = pg_url
        self.tmp = tmp
        self.spools = {name: tmp / f"spool-{name}" for name in REPLICAS} | (spools or {})
        self.proxies: dict[str, Any] = {}
        self.replicas: dict[str, GatewayProcess] = {}
        self.keys: dict[str, str] = {}
        self.key_ids: dict[str, str] = {}
        self.ports = {name: free_port() for name in REPLICAS}
        self.lb = HAProxy(haproxy, self.ports, tmp / "haproxy.log")
        self._sim: subprocess.Popen[str] | None = None

    async def __aenter__(self) -> Fleet:
        try:
            await self._start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _start(self) -> None:
        sim_url = self._start_sim()
        store = open_store(self.pg_url)
        await store.open()
        try:
            await store.migrate()
            for name in ("load", "revoked"):
                self.keys[name], row = await create_key(store, name)
                self.key_ids[name] = row.id
        finally:
            await store.close()
        for name in REPLICAS:
            self.proxies[name] = await TcpProxy("127.0.0.1", 5432).start()
            env = clean_env(
                MAJORDOMO_DATABASE_URL=through(self.proxies[name].port, self.pg_url),
                MAJORDOMO_OPENAI_BASE_URL=sim_url,
                MAJORDOMO_SPOOL_DIR=str(self.spools[name]),
                MAJORDOMO_KEY_CACHE_TTL=str(KEY_CACHE_TTL),
            )
            self.replicas[name] = GatewayProcess(self.tmp / f"{name}.log", env, port=self.ports[name])
            self.replicas[name].start()
        await asyncio.gather(*(replica.ready() for replica in self.replicas.values()))
        self.lb.start()
        async with aiohttp.ClientSession() as http:
            await self.lb.until(http, **dict.fromkeys(REPLICAS, "UP"))

    def _start_sim(self) -> str:
        argv = [sys.executable, "-m", "majordomo_otel.sim", "--port", "0"]
        self._sim = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self._sim.stdout is not None
        line = self._sim.stdout.readline()  # "majordomo sim listening on http://127.0.0.1:PORT (N fixtures)"
        assert " listening on " in line, line
        return line.split(" listening on ")[1].split()[0]

    def revoke(self, key: str) -> None:
        """`majordomo keys revoke ID`, the CLI, straight at the database (not through any replica)."""
        subprocess.run(
            [*CLI, "keys", "revoke", self.key_ids[key], "--database-url", self.pg_url], check=True, capture_output=True
        )

    def stop_replicas(self) -> dict[str, int]:
        """SIGTERM every replica (each drains its records); their exit codes."""
        for replica in self.replicas.values():
            replica.signal(signal.SIGTERM)
        return {name: replica.wait() for name, replica in self.replicas.items()}

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.lb.stop()
        for replica in self.replicas.values():
            replica.close()
        for proxy in self.proxies.values():
            await proxy.stop()
        if self._sim is not None:
            self._sim.terminate()
            self._sim.wait(10)
