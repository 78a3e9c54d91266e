"""Three gateway replicas on one PostgreSQL behind a real HAProxy (examples/haproxy/haproxy.cfg), under load.

One replica is SIGKILLed and restarted, a key is revoked with `majordomo keys revoke`, the database is
stopped and started: every delivered response has exactly one row, the revocation reaches every replica
within the key cache TTL, and HAProxy keeps every replica through the database outage (each still keeps
its records, in its spool). A replica that cannot keep records (its database away and its spool's disk
full) answers 503 on /readyz, and once HAProxy marks it down it gets no request until it can again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
from _fleet import BODIES, CHAT, Load, ledger, pg_ids
from _replicas import KEY_CACHE_TTL, REPLICA_HEADER, REPLICAS, Fleet
from dirty_equals import IsInt

CONCURRENCY = int(os.environ.get("MAJORDOMO_REPLICAS_CONCURRENCY", "8"))  # bench/bench_replicas.py raises it
ALL = set(REPLICAS)
ALL_UP = dict.fromkeys(REPLICAS, "UP")
NO_LOSS = {"lost": 0, "doubled": 0, "delivered": IsInt(gt=100)}

Probe = tuple[float, str, int, str]  # (sent at, replica, status, request id)


async def _probe(http: aiohttp.ClientSession, fleet: Fleet, name: str, seen: list[Probe], stop: asyncio.Event) -> None:
    """Requests with the key being revoked, straight at one replica, until `stop`."""
    headers = {"Content-Type": "application/json", "X-Majordomo-Key": fleet.keys["revoked"]}
    while not stop.is_set():
        sent = time.monotonic()
        async with http.post(fleet.replicas[name].url + CHAT, data=BODIES[0], headers=headers) as resp:
            await resp.read()
            seen.append((sent, name, resp.status, resp.headers.get("X-Majordomo-Request-Id", "")))
        await asyncio.sleep(0.02)


async def _revoke_while_probing(http: aiohttp.ClientSession, fleet: Fleet) -> dict[str, Any]:
    seen: list[Probe] = []
    stop = asyncio.Event()
    probes = [asyncio.create_task(_probe(http, fleet, name, seen, stop)) for name in REPLICAS]
    await asyncio.sleep(0.5)
    revoking = time.monotonic()
    await asyncio.to_thread(fleet.revoke, "revoked")
    revoked = time.monotonic()  # committed by now
    await asyncio.sleep(KEY_CACHE_TTL + 0.8)
    stop.set()
    await asyncio.gather(*probes)
    bound = revoked + KEY_CACHE_TTL
    first_refusal = {n: min((t for t, m, s, _ in seen if m == n and s == 401), default=None) for n in REPLICAS}
    print(
        "revocation reached, seconds after `majordomo keys revoke` returned:",
        first_refusal and {n: None if t is None else round(t - revoked, 3) for n, t in first_refusal.items()},
    )
    return {
        "valid everywhere before": {n for t, n, s, _ in seen if s == 200 and t < revoking},
        "accepted past the bound": [(n, round(t - revoked, 3)) for t, n, s, _ in seen if s == 200 and t > bound],
        "refused everywhere after": {n for t, n, s, _ in seen if s == 401 and t > bound},
        "delivered": {request_id for _, _, s, request_id in seen if s == 200},
    }


async def test_replicas_keep_one_row_per_response_through_a_kill_a_revocation_and_a_database_outage(
    haproxy: str, pg_url: str, tmp_path: Path
) -> None:
    async with Fleet(haproxy, pg_url, tmp_path) as fleet, aiohttp.ClientSession() as http:
        load = Load(
            fleet.lb.url, concurrency=CONCURRENCY, headers={"X-Majordomo-Key": fleet.keys["load"]}, tag=REPLICA_HEADER
        )
        async with load:
            await asyncio.sleep(1.0)
            gw2 = fleet.replicas["gw2"]
            gw2.signal(signal.SIGKILL)
            await asyncio.to_thread(gw2.wait)
            marked_down = await fleet.lb.until(http, gw2="DOWN")
            gw2.start()  # same port, same spool: it replays what the killed process journaled
            await gw2.ready()
            back_up = await fleet.lb.until(http, gw2="UP")
            await asyncio.sleep(0.6)
            revocation = await _revoke_while_probing(http, fleet)

            outage = time.monotonic()
            for proxy in fleet.proxies.values():
                await proxy.cut()
            lb_during_outage = []
            for _ in range(8):
                await asyncio.sleep(0.25)
                lb_during_outage.append(await fleet.lb.states(http))
            restored = time.monotonic()
            for proxy in fleet.proxies.values():
                await proxy.restore()
            await asyncio.sleep(0.5)
        exits = await asyncio.to_thread(fleet.stop_replicas)
    log = load.log
    counts = ledger(log.ids | revocation["delivered"], await pg_ids(pg_url))
    print(f"replicas: {counts}, {len(log.refused) + len(log.failed)} not delivered (in flight on the killed one)")
    assert {
        "gw2 served again": "gw2" in log.tags_between(back_up),
        "served during the outage": log.tags_between(outage + 0.5, restored),
        "HAProxy during the outage": [s == ALL_UP for s in lb_during_outage],
        "not 200 once gw2 was marked down": [x for x in log.refused + log.failed if x[0] > marked_down],
        **{k: v for k, v in revocation.items() if k != "delivered"},
        "exits": exits,
        **counts,
    } == {
        "gw2 served again": True,
        "served during the outage": ALL,
        "HAProxy during the outage": [True] * 8,
        "not 200 once gw2 was marked down": [],
        "valid everywhere before": ALL,
        "accepted past the bound": [],
        "refused everywhere after": ALL,
        "exits": dict.fromkeys(REPLICAS, 0),
        **NO_LOSS,
    }


async def test_haproxy_sends_nothing_to_a_replica_that_cannot_keep_records(
    haproxy: str, pg_url: str, tmp_path: Path, small_disk: Any
) -> None:
    async with (
        Fleet(haproxy, pg_url, tmp_path, spools={"gw3": small_disk.path / "spool"}) as fleet,
        aiohttp.ClientSession() as http,
    ):
        load = Load(
            fleet.lb.url, concurrency=CONCURRENCY, headers={"X-Majordomo-Key": fleet.keys["load"]}, tag=REPLICA_HEADER
        )
        async with load:
            await asyncio.sleep(0.8)
            await fleet.proxies["gw3"].cut()  # its database away ...
            small_disk.fill()  # ... and its spool's disk full: it cannot keep a record anywhere
            marked_down = await fleet.lb.until(http, gw3="DOWN")
            async with http.get(fleet.replicas["gw3"].url + "/readyz") as resp:
                readyz = (resp.status, (await resp.json())["status"])
            await asyncio.sleep(1.5)
            while_down = time.monotonic()
            small_disk.free()
            await fleet.proxies["gw3"].restore()
            back_up = await fleet.lb.until(http, gw3="UP")
            await asyncio.sleep(0.6)
        exits = await asyncio.to_thread(fleet.stop_replicas)
    log = load.log
    assert {
        "gw3's /readyz": readyz,
        "served while gw3 was down": log.tags_between(marked_down, while_down),
        "served once it was back": log.tags_between(back_up),
        "not 200": log.refused + log.failed,
        "exits": exits,
        **ledger(log.ids, await pg_ids(pg_url)),
    } == {
        "gw3's /readyz": (503, "failing"),
        "served while gw3 was down": {"gw1", "gw2"},
        "served once it was back": ALL,
        "not 200": [],
        "exits": dict.fromkeys(REPLICAS, 0),
        **NO_LOSS,
    }
