"""`majordomo gateway --workers 2` as a real process under real load, on SQLite and PostgreSQL.

A killed worker is restarted while the port keeps answering, and every delivered response keeps exactly
one row; SIGTERM drains every worker; a worker that keeps dying is restarted with backoff and its records
still land; a worker that cannot start at all stops the gateway with its reason; and a later run with
fewer workers replays what the others left.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest
from _fleet import (
    CLI,
    Database,
    GatewayProcess,
    Load,
    alive,
    clean_env,
    kill_and_wait,
    ledger,
    pg_ids,
    sqlite_ids,
    through,
)
from dirty_equals import IsInt
from gateway_harness import TcpProxy

from majordomo_otel.sim import SimServer

CONCURRENCY = 16
RESTART_LINE = (
    r"worker 2 \(pid \d+\) (?:killed by SIGKILL|exited with code 1) after [\d.]+ s; "
    r"restarting it (?:now|in ([\d.]+) s)"
)
NO_LOSS = {"lost": 0, "doubled": 0, "delivered": IsInt(gt=CONCURRENCY)}


def _supervised(tmp_path: Path, database_url: str, sim: SimServer, *, log: str = "gateway.log") -> GatewayProcess:
    env = clean_env(
        MAJORDOMO_DATABASE_URL=database_url,
        MAJORDOMO_OPENAI_BASE_URL=sim.url,
        MAJORDOMO_SPOOL_DIR=str(tmp_path / "spool"),
    )
    return GatewayProcess(tmp_path / log, env, "--no-auth", "--workers", "2")


async def test_a_killed_worker_is_restarted_and_every_delivered_response_keeps_one_row(
    database: Database, sim: SimServer, tmp_path: Path
) -> None:
    gateway = _supervised(tmp_path, database.url, sim)
    gateway.start()
    try:
        await gateway.ready()
        async with Load(gateway.url, concurrency=CONCURRENCY) as load:
            await asyncio.sleep(0.8)
            victim = gateway.workers()[2]
            await asyncio.to_thread(kill_and_wait, victim)
            killed_at = time.monotonic()
            [listening] = await gateway.logged(r"worker 2 \(pid (\d+)\) listening")
            await asyncio.sleep(0.5)
        workers = gateway.workers()
        code = await asyncio.to_thread(gateway.stop)
    finally:
        gateway.close()
    assert {
        "exit": code,
        "slot 2 now": workers[2],
        "logged": bool(
            re.search(rf"worker 2 \(pid {victim}\) killed by SIGKILL after [\d.]+ s; restarting", gateway.log())
        ),
        "failed after the kill": load.log.failed_after(killed_at + 0.1),
        "delivered after the kill": sum(1 for t, _, _ in load.log.delivered if t > killed_at) > CONCURRENCY,
        **ledger(load.log.ids, await database.ids()),
    } == {
        "exit": 0,
        "slot 2 now": int(listening[1]),
        "logged": True,
        "failed after the kill": [],
        "delivered after the kill": True,
        **NO_LOSS,
    }
    assert int(listening[1]) != victim


async def test_sigterm_drains_every_worker_and_exits_0(database: Database, sim: SimServer, tmp_path: Path) -> None:
    gateway = _supervised(tmp_path, database.url, sim)
    gateway.start()
    try:
        await gateway.ready()
        async with Load(gateway.url, concurrency=CONCURRENCY) as load:
            await asyncio.sleep(0.8)
            stopping = time.monotonic()
            gateway.signal(signal.SIGTERM)  # while the load goes on
            code = await asyncio.to_thread(gateway.wait)
            stopped_in = time.monotonic() - stopping
    finally:
        gateway.close()
    assert {
        "exit": code,
        "stopped in under 10 s": stopped_in < 10,  # not held up by a request that arrived as it stopped
        "drained": sorted(re.findall(r"\[worker (\d)\]: records: \d+ written", gateway.log())),
        "records left in the spools": sorted(str(p) for p in (tmp_path / "spool").rglob("*.jsonl")),
        **ledger(load.log.ids, await database.ids()),
    } == {"exit": 0, "stopped in under 10 s": True, "drained": ["1", "2"], "records left in the spools": [], **NO_LOSS}


async def test_a_worker_that_keeps_dying_is_restarted_with_backoff_and_loses_nothing(
    sim: SimServer, tmp_path: Path
) -> None:
    db = tmp_path / "gw.db"
    gateway = _supervised(tmp_path, f"sqlite:///{db}", sim)
    slot = tmp_path / "spool" / "worker-2"
    away = slot.with_name("worker-2.away")
    gateway.start()
    try:
        await gateway.ready()
        async with Load(gateway.url, concurrency=CONCURRENCY) as load:
            await asyncio.sleep(0.5)
            slot.rename(away)  # the running worker keeps its open files; its next start cannot open its spool
            slot.write_text("not a folder")
            await asyncio.to_thread(kill_and_wait, gateway.workers()[2])
            deaths = await gateway.logged(RESTART_LINE, count=3, timeout=60)  # the kill, two failed starts
            slot.unlink()
            away.rename(slot)
            await gateway.logged(r"worker 2 \(pid \d+\) listening")
            await asyncio.sleep(0.3)
        code = await asyncio.to_thread(gateway.stop)
    finally:
        gateway.close()
    first, second = (float(m[1]) for m in deaths[1:])  # after the kill: now, or 0.5 s if it was young
    assert {
        "first failed start waits": first in (0.5, 1.0),
        "backoff doubles": second == 2 * first,
        "why": len(re.findall(r"\[worker 2\]: cannot serve: .*worker-2", gateway.log())),
        "exit": code,
        **ledger(load.log.ids, sqlite_ids(db)),
    } == {"first failed start waits": True, "backoff doubles": True, "why": 2, "exit": 0, **NO_LOSS}


def test_a_worker_that_cannot_start_stops_the_gateway_with_its_reason(sim: SimServer, tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "worker-2").write_text("not a folder")
    gateway = _supervised(tmp_path, f"sqlite:///{tmp_path / 'gw.db'}", sim)
    gateway.start()
    try:
        code = gateway.wait(60)
    finally:
        gateway.close()
    log = gateway.log()
    assert (
        code,
        bool(re.search(r"\[worker 2\]: cannot serve: .*worker-2", log)),
        bool(re.search(r"worker 2 \(pid \d+\) exited with code 1 before it was listening: stopping the gateway", log)),
        "Traceback" in log,
    ) == (1, True, True, False)


def test_with_verbose_a_worker_that_cannot_start_logs_its_traceback(sim: SimServer, tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "worker-2").write_text("not a folder")
    gateway = _supervised(tmp_path, f"sqlite:///{tmp_path / 'gw.db'}", sim)
    with gateway.log_path.open("ab") as out:
        argv = [*CLI, "--verbose", "gateway", *gateway.args]
        code = subprocess.run(argv, env=gateway.env, stdout=out, stderr=out, timeout=60).returncode
    log = gateway.log()
    assert (
        code,
        bool(re.search(r"\[worker 2\]: cannot serve: .*worker-2", log)),
        bool(re.search(r"Traceback \(most recent call last\):", log)),
    ) == (1, True, True)


async def test_a_run_with_fewer_workers_replays_what_the_others_journaled(sim: SimServer, tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    gateway = _supervised(tmp_path, f"sqlite:///{db}", sim)
    single = GatewayProcess(tmp_path / "single.log", gateway.env, "--no-auth")
    gateway.start()
    try:
        await gateway.ready()
        async with Load(gateway.url, concurrency=CONCURRENCY) as load:
            await asyncio.sleep(0.8)
            everyone = [gateway.proc.pid, *gateway.workers().values()] if gateway.proc else []
            for pid in everyone:  # the whole gateway at once (an OOM kill of the host's service): nobody drains
                os.kill(pid, signal.SIGKILL)
        gateway.wait(10)
        single.start()
        await single.ready()
        code = await asyncio.to_thread(single.stop)
    finally:
        gateway.close()
        single.close()
    assert {
        "exit": code,
        "merged": bool(re.search(r"segment\(s\) of workers this run does not start moved to", single.log())),
        **ledger(load.log.ids, sqlite_ids(db)),
    } == {"exit": 0, "merged": True, **NO_LOSS}


async def test_workers_whose_supervisor_is_killed_drain_and_exit(sim: SimServer, tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    gateway = _supervised(tmp_path, f"sqlite:///{db}", sim)
    gateway.start()
    try:
        await gateway.ready()
        async with Load(gateway.url, concurrency=CONCURRENCY) as load:
            await asyncio.sleep(0.5)
            workers = list(gateway.workers().values())
            gateway.signal(signal.SIGKILL)
            async with asyncio.timeout(30):
                for pid in workers:  # no longer anyone's children we could wait for: watch /proc
                    while alive(pid):  # noqa: ASYNC110 - /proc is the only news of their exit
                        await asyncio.sleep(0.02)
    finally:
        gateway.close()
    assert {
        "stopped": len(re.findall(r"\[worker \d\]: the supervising process is gone: stopping", gateway.log())),
        "drained": len(re.findall(r"\[worker \d\]: records: \d+ written", gateway.log())),
        **ledger(load.log.ids, sqlite_ids(db)),  # in the database: nobody replayed a journal
    } == {"stopped": 2, "drained": 2, **NO_LOSS}


@pytest.mark.postgres
async def test_workers_start_and_keep_every_record_while_the_database_is_down(
    sim: SimServer, tmp_path: Path, pg_url: str
) -> None:
    async with TcpProxy("127.0.0.1", 5432) as database:
        await database.cut()  # down before the parent's one migration
        gateway = _supervised(tmp_path, through(database.port, pg_url), sim)
        gateway.start()
        try:
            await gateway.ready()
            async with Load(gateway.url, concurrency=CONCURRENCY) as load:
                await asyncio.sleep(0.5)
            await database.restore()
            async with asyncio.timeout(30):  # each worker migrates, then replays its spool, on its own
                while not load.log.ids <= set(await _ids_if_any(pg_url)):  # noqa: ASYNC110 - polling the database
                    await asyncio.sleep(0.2)
            code = await asyncio.to_thread(gateway.stop)
        finally:
            gateway.close()
    assert {
        "warned": "database unavailable at start" in gateway.log(),
        "exit": code,
        **ledger(load.log.ids, await pg_ids(pg_url)),
    } == {"warned": True, "exit": 0, **NO_LOSS}


async def _ids_if_any(pg_url: str) -> list[str]:
    """The record ids, or none while the table does not exist yet."""
    try:
        return await pg_ids(pg_url)
    except asyncpg.UndefinedTableError:
        return []
