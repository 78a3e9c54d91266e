"""RecordWriter: batches reach the store in order; outages, overflow and crashes lose or repeat nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from _store_helpers import PG_HOST, PG_PORT, make_record, physical_order
from _tcp_proxy import TcpProxy
from dirty_equals import IsStr

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store import RecordWriter, Store, open_store
from majordomo_otel.gateway.store._spool import OWNER_LOCK, Spool, SpoolInUse


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling the writer's counters
            await asyncio.sleep(0.005)


async def count(store: Store) -> int:
    [row] = await store.query("SELECT COUNT(*) AS n FROM llm_requests")
    return row["n"]


@pytest.fixture
async def proxied_pg(pg_schema: str) -> AsyncIterator[tuple[TcpProxy, Store]]:
    """A PostgreSQL store reached through a TcpProxy the test can cut, on its own schema."""
    async with TcpProxy(PG_HOST, PG_PORT) as proxy:
        store = open_store(f"postgresql://postgres@{PG_HOST}:{proxy.port}/test?schema={pg_schema}", connect_timeout=2.0)
        await store.open()
        await store.migrate()
        try:
            yield proxy, store
        finally:
            await store.close()


def writer_for(store: Store, spool: Path, **options: object) -> RecordWriter:
    defaults: dict[str, object] = dict(flush_interval=0.005, retry_initial=0.01, retry_max=0.1, batch_size=50)
    return RecordWriter(store, spool_dir=spool, **(defaults | options))  # type: ignore[arg-type]


async def test_submitted_records_are_written_in_order(store: Store, tmp_path: Path) -> None:
    writer = writer_for(store, tmp_path / "spool")
    await writer.start()
    records = [make_record(i) for i in range(120)]
    for r in records:
        writer.submit(r)
    assert await writer.flush() is True
    await writer.close()
    assert await physical_order(store) == [r.id for r in records]
    assert await store.get_records() == records
    assert writer.stats() == {
        "alive": False,
        "accepting": True,
        "queue_depth": 0,
        "queue_bound": 10_000,
        "spool_depth": 0,
        "journal_depth": 0,
        "stranded": 0,
        "store_ok": True,
        "spool_ok": True,
        "journal_ok": True,
        "last_error": None,
        "records_written": 120,
        "batches": writer.stats()["batches"],
        "records_spooled": 0,
        "records_rejected": 0,
    }
    assert 3 <= writer.stats()["batches"] <= 120


async def test_close_drains_the_queue(store: Store, tmp_path: Path) -> None:
    writer = writer_for(store, tmp_path / "spool", flush_interval=1.0)
    await writer.start()
    records = [make_record(i) for i in range(7)]
    for r in records:
        writer.submit(r)
    await writer.close()
    assert await store.get_records() == records


async def test_full_queue_spills_to_the_spool_and_keeps_order(store: Store, tmp_path: Path) -> None:
    writer = writer_for(store, tmp_path / "spool", queue_size=10, batch_size=5)
    await writer.start()
    records = [make_record(i) for i in range(200)]
    for i, r in enumerate(records):
        writer.submit(r)
        if i % 40 == 0:
            await asyncio.sleep(0)
    assert await writer.flush() is True
    await writer.close()
    assert writer.stats()["records_spooled"] > 0
    assert await physical_order(store) == [r.id for r in records]
    assert list((tmp_path / "spool").glob("spool-*.jsonl")) == []


async def test_postgres_outage_loses_nothing_and_keeps_order(
    proxied_pg: tuple[TcpProxy, Store], tmp_path: Path
) -> None:
    proxy, store = proxied_pg
    writer = writer_for(store, tmp_path / "spool")
    await writer.start()
    before = [make_record(i) for i in range(30)]
    during = [make_record(100 + i) for i in range(300)]
    after = [make_record(1000 + i) for i in range(30)]
    for r in before:
        writer.submit(r)
    assert await writer.flush() is True

    await proxy.cut()
    for i, r in enumerate(during):
        writer.submit(r)
        if i % 25 == 0:
            await asyncio.sleep(0.002)
    await until(lambda: writer.stats()["spool_depth"] == len(during) and writer.stats()["queue_depth"] == 0)
    assert writer.stats() | {"last_error": "?"} == {
        "alive": True,
        "accepting": True,
        "queue_depth": 0,
        "queue_bound": 10_000,
        "spool_depth": 300,
        "journal_depth": 0,
        "stranded": 0,
        "store_ok": False,
        "spool_ok": True,
        "journal_ok": True,
        "last_error": "?",
        "records_written": 30,
        "batches": writer.stats()["batches"],
        "records_spooled": 300,
        "records_rejected": 0,
    }
    assert writer.stats()["last_error"] == IsStr()
    assert await store.ping() is False

    await proxy.restore()
    for r in after:
        writer.submit(r)
    assert await writer.flush(timeout=15) is True
    await writer.close()
    everything = before + during + after
    assert await physical_order(store) == [r.id for r in everything]
    assert await store.get_records() == everything
    assert writer.stats()["store_ok"] is True


async def test_close_while_down_leaves_the_spool_and_next_start_replays(
    proxied_pg: tuple[TcpProxy, Store], tmp_path: Path
) -> None:
    proxy, store = proxied_pg
    await proxy.cut()
    first = writer_for(store, tmp_path / "spool")
    await first.start()
    records = [make_record(i) for i in range(40)]
    for r in records:
        first.submit(r)
    await first.close(timeout=5)
    assert first.stats()["spool_depth"] == 40

    await proxy.restore()
    second = writer_for(store, tmp_path / "spool")
    await second.start()
    assert await second.flush() is True
    await second.close()
    assert await store.get_records() == records


async def test_spool_replays_after_a_crash_without_duplicates(
    proxied_pg: tuple[TcpProxy, Store], tmp_path: Path
) -> None:
    """The first writer dies (no close) with records spooled; a new one on the same folder replays them."""
    proxy, store = proxied_pg
    await proxy.cut()
    crashed = writer_for(store, tmp_path / "spool")
    await crashed.start()
    records = [make_record(i) for i in range(120)]
    for r in records:
        crashed.submit(r)
    await until(lambda: crashed.stats()["spool_depth"] == 120)
    assert crashed._task is not None
    crashed._task.cancel()  # the process "dies": no close(), no drain
    await asyncio.gather(crashed._task, return_exceptions=True)

    await proxy.restore()
    # A replay that got halfway before the crash: some rows are in the store already.
    await store.write_batch(records[:70])
    survivor = writer_for(store, tmp_path / "spool")
    await survivor.start()
    assert await survivor.flush() is True
    await survivor.close()
    assert await count(store) == 120
    assert await store.get_records() == records


async def test_sqlite_replays_a_spool_left_by_a_crashed_process(store: Store, tmp_path: Path) -> None:
    records = [make_record(i) for i in range(25)]
    left = Spool(tmp_path / "spool", segment_records=10)
    left.scan()
    left.append(records[:12])
    left.append(records[12:])
    await store.write_batch(records[:5])  # it had replayed a few before dying
    with (tmp_path / "spool" / "spool-000000000003.jsonl").open("ab") as f:
        f.write(b'{"id": "torn')  # and died in the middle of a write
    writer = writer_for(store, tmp_path / "spool", batch_size=7)
    await writer.start()
    assert await writer.flush() is True
    await writer.close()
    assert await store.get_records() == records
    assert await physical_order(store) == [r.id for r in records]
    assert _left_in(tmp_path / "spool") == []


async def test_records_the_store_rejects_go_to_rejected_jsonl(store: Store, tmp_path: Path) -> None:
    good = [make_record(i) for i in range(9)]
    bad: RequestRecord = make_record(99, streamed=2)  # violates the boolean column on both stores
    writer = writer_for(store, tmp_path / "spool")
    await writer.start()
    for r in [*good[:4], bad, *good[4:]]:
        writer.submit(r)
    assert await writer.flush() is True
    await writer.close()
    assert await store.get_records() == good
    [line] = (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()
    rejected = json.loads(line)
    assert rejected["record"]["id"] == bad.id
    assert writer.stats()["records_rejected"] == 1


async def test_a_burst_is_journaled_then_stored_and_the_journal_forgets_it(store: Store, tmp_path: Path) -> None:
    """Its cost per submit is measured in bench/bench_store.py, not here."""
    writer = writer_for(store, tmp_path / "spool", queue_size=100_000, batch_size=500)
    await writer.start()
    for i in range(5000):
        writer.submit(make_record(i))
    journaled = writer.stats()["journal_depth"]
    assert await writer.flush(timeout=30) is True
    await asyncio.sleep(0)
    assert (journaled, writer.stats()["journal_depth"]) == (5000, 0)
    await writer.close()
    assert (await count(store), _left_in(tmp_path / "spool")) == (5000, [])


async def test_records_submitted_before_start_survive_a_close(store: Store, tmp_path: Path) -> None:
    unstarted = writer_for(store, tmp_path / "spool")
    records = [make_record(i) for i in range(3)]
    for r in records:
        unstarted.submit(r)
    await unstarted.close()
    writer = writer_for(store, tmp_path / "spool")
    await writer.start()
    assert await writer.flush() is True
    await writer.close()
    assert await store.get_records() == records


def _left_in(spool: Path) -> list[str]:
    """What a spool folder still holds, besides the lock that says which process owns it."""
    return sorted(p.name for p in spool.iterdir() if p.name != OWNER_LOCK)


def test_a_spool_folder_another_live_process_owns_is_refused(tmp_path: Path) -> None:
    """Two gateways replaying and deleting the same segments could delete each other's unreplayed records."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from majordomo_otel.gateway.store._spool import Spool; "
            f"Spool({str(tmp_path / 'spool')!r}).claim(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(SpoolInUse, match=r"is in use by another running gateway: give each gateway its own"):
            Spool(tmp_path / "spool").claim()
    finally:
        holder.kill()
        holder.wait()
    Spool(tmp_path / "spool").claim()  # the holder's death released it
