"""Two `majordomo gateway` processes on one PostgreSQL enforce one limit: a `feature=` budget and a `user_id=*`
budget under 64 concurrent clients, each overshooting by no more than the documented bound; a restarted
gateway keeps the window's spend."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _budget_helpers import send
from dirty_equals import IsStr

from local_processes import free_port
from majordomo_otel.gateway.budgets import create_budget
from majordomo_otel.gateway.keys import create_key
from majordomo_otel.gateway.store import Store, open_store
from majordomo_otel.sim import SimServer

INTERVAL = 0.2  # the gateways' --budget-refresh-interval
CLIENTS = 64
USERS = 8  # the per-user budget: CLIENTS / USERS clients per user
FEATURE_LIMIT = Decimal("0.15")  # ~500 requests of $0.00030285
USER_LIMIT = Decimal("0.015")  # ~50 requests per user


@dataclass
class Gateway:
    url: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    async def healthy(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc is not None
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else b""
            try:
                async with http.get(self.url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"gateway {self.url} did not become ready")


def gateway(name: str, pg_url: str, sim: SimServer, tmp_path: Path) -> Gateway:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MAJORDOMO_"))}
    env |= {"MAJORDOMO_OPENAI_BASE_URL": sim.url, "MAJORDOMO_LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "majordomo_otel.cli", "gateway", "--port", str(port), "--database-url", pg_url]
    argv += ["--spool-dir", str(tmp_path / name), "--budget-refresh-interval", str(INTERVAL)]
    return Gateway(f"http://127.0.0.1:{port}", argv, env)


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Store]:
    opened = open_store(pg_url)
    await opened.open()
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def pair(pg_url: str, sim: SimServer, tmp_path: Path) -> Iterator[list[Gateway]]:
    gateways = [gateway(name, pg_url, sim, tmp_path) for name in ("a", "b")]
    for g in gateways:
        g.start()
    try:
        yield gateways
    finally:
        for g in gateways:
            g.stop()


@dataclass
class Load:
    """What each gateway served (request ids) to the clients of one budget value."""

    served: dict[str, list[str]] = field(default_factory=dict)


async def drive(
    http: aiohttp.ClientSession, gateways: list[Gateway], key: str, tags_of: list[dict[str, str]], group: str
) -> dict[str, Load]:
    """One client per entry of `tags_of`, all at once, each alternating between the gateways until refused;
    what they were served, by the value of the tag `group`."""
    loads = {tags[group]: Load(served={g.url: [] for g in gateways}) for tags in tags_of}

    async def client(index: int, tags: dict[str, str]) -> None:
        load = loads[tags[group]]
        for g in itertools.islice(itertools.cycle(gateways), index % 2, None):
            reply = await send(http, g.url, key, tags=tags)
            if reply.status != 200:
                assert reply.status == 429, reply.body
                break
            load.served[g.url].append(reply.headers["X-Majordomo-Request-Id"])

    await asyncio.gather(*(client(i, tags) for i, tags in enumerate(tags_of)))
    return loads


async def slowest_sync(http: aiohttp.ClientSession, gateways: list[Gateway]) -> float:
    """The longest a replica's recent budget syncs took (its /readyz says): the bound's "sync" term."""
    slowest = 0.0
    for g in gateways:
        async with http.get(g.url + "/readyz") as resp:
            slowest = max(slowest, (await resp.json())["budgets"]["slowest_recent_sync_ms"] / 1000)
    return slowest


async def rows(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """The rows of these requests (cost, when asked, when answered), once the gateways have written them all."""
    deadline = time.monotonic() + 20
    while True:
        found = await store.query(
            "SELECT total_cost, requested_at, responded_at FROM llm_requests WHERE id = ANY($1::uuid[])", [ids]
        )
        if len(found) == len(ids) or time.monotonic() > deadline:
            assert len(found) == len(ids)
            return found
        await asyncio.sleep(0.1)


async def overshoot_and_bound(
    store: Store, load: Load, limit: Decimal, *, in_flight: int, sync: float
) -> tuple[Decimal, Decimal]:
    """Spend beyond the limit, and the README's bound: c_max x F + what another replica spent in the
    2 x (interval + sync) before the last request was admitted (R_others x 2 x (interval + sync))."""
    per_gateway = [await rows(store, ids) for ids in load.served.values()]
    every = [r for g in per_gateway for r in g]
    spent = sum(r["total_cost"] for r in every)
    c_max = max(r["total_cost"] for r in every)
    last = max(r["requested_at"] for r in every)
    unseen = last - timedelta(seconds=2 * (INTERVAL + sync))
    others = max(sum(r["total_cost"] for r in g if unseen <= r["responded_at"] <= last) for g in per_gateway)
    assert spent >= limit
    return spent - limit, c_max * in_flight + others


async def test_two_gateways_enforce_one_limit_within_the_bound_and_a_restart_keeps_spend(
    store: Store, pair: list[Gateway], http: aiohttp.ClientSession
) -> None:
    key, _ = await create_key(store, "load")
    await asyncio.gather(*(g.healthy(http) for g in pair))
    # Created while both gateways run: they pick them up within their refresh interval.
    await create_budget(store, "research", "feature=research", limit=FEATURE_LIMIT, window="day")
    await create_budget(store, "chat-per-user", "feature=chat user_id=*", limit=USER_LIMIT, window="day")
    await asyncio.sleep(3 * INTERVAL)

    loads = await drive(http, pair, key, [{"Feature": "research"}] * CLIENTS, "Feature")
    sync = await slowest_sync(http, pair)
    over, bound = await overshoot_and_bound(store, loads["research"], FEATURE_LIMIT, in_flight=CLIENTS, sync=sync)
    assert 0 <= over <= bound, (over, bound)

    users = [{"Feature": "chat", "User-Id": f"u{i % USERS}"} for i in range(CLIENTS)]
    loads = await drive(http, pair, key, users, "User-Id")
    sync = await slowest_sync(http, pair)
    for user, load in sorted(loads.items()):
        over, bound = await overshoot_and_bound(store, load, USER_LIMIT, in_flight=CLIENTS // USERS, sync=sync)
        assert 0 <= over <= bound, (user, over, bound)

    a = pair[0]
    a.stop()
    a.start()
    await a.healthy(http)
    again = await send(http, a.url, key, tags={"Feature": "research"})  # its first request after the restart
    assert (again.status, again.json()["error"]["message"]) == (429, IsStr(regex=".*budget 'research' used up: .*"))
