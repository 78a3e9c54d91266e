"""PostgreSQL month partitions (schema version 2): the upgrade keeps every row, no insert fails for a missing
month, replays stay single rows, and months are created ahead once each, by concurrent creators too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _store_helpers import make_record
from gateway_harness import sim_settings, start_gateway

from majordomo_otel.gateway.record import COLUMNS, RequestRecord
from majordomo_otel.gateway.store import SCHEMA_VERSION, PostgresStore, open_store
from majordomo_otel.gateway.store._partitions import (
    DEFAULT_PARTITION,
    INDEXES,
    add_months,
    create_months_ahead,
    keep_months_ahead,
    list_partitions,
    month_of,
    partition_name,
)
from majordomo_otel.gateway.store._postgres import record_params
from majordomo_otel.gateway.store._spool import Spool
from majordomo_otel.sim import SimServer

pytestmark = pytest.mark.postgres

_V1_INSERT = (
    f"INSERT INTO llm_requests ({', '.join(COLUMNS)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})"
)


def at(year: int, month: int, day: int = 3, *, micro: int = 654321) -> datetime:
    return datetime(year, month, day, 8, 30, 15, micro, tzinfo=UTC)


def ahead_names(now: datetime | None = None) -> list[str]:
    first = month_of(now or datetime.now(UTC))
    return [partition_name(add_months(first, i)) for i in range(4)]


async def opened(pg_url: str) -> PostgresStore:
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    await store.open()
    return store


@pytest.fixture
async def v1(pg_url: str) -> AsyncIterator[PostgresStore]:
    """A store at schema version 1: one table, as every install before partitioning has."""
    store = await opened(pg_url)
    await store.migrate(target=1)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = await opened(pg_url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def insert_v1(store: PostgresStore, records: list[RequestRecord]) -> None:
    async with store.pool.acquire() as conn:
        await conn.executemany(_V1_INSERT, [record_params(r) for r in records])


async def partition_of(store: PostgresStore) -> dict[str, str]:
    """record id → the partition holding it."""
    rows = await store.query("SELECT id, tableoid::regclass::text AS p FROM llm_requests")
    return {str(r["id"]): r["p"] for r in rows}


async def names(store: PostgresStore) -> list[str]:
    async with store.pool.acquire() as conn:
        return [p.name for p in await list_partitions(conn)]


def v1_records() -> list[RequestRecord]:
    """Rows of three months, a sparse one, a month boundary to the microsecond, text of every kind."""
    return [
        make_record(0, requested_at=at(2025, 11)),
        make_record(1, requested_at=at(2025, 11, 30, micro=999999).replace(hour=23, minute=59, second=59)),
        make_record(2, requested_at=datetime(2025, 12, 1, tzinfo=UTC)),
        make_record(3, requested_at=at(2026, 2), raw_metadata={"Feature": 'ünï\'cødé "q"', "Step": "a\\b"}),
        RequestRecord(
            id=make_record().id,
            provider="openai",
            request_path="/v1/chat/completions",
            request_method="POST",
            requested_at=at(2026, 2, 28),
        ),
    ]


async def test_upgrading_a_table_with_rows_keeps_every_row_and_value(v1: PostgresStore) -> None:
    records = v1_records()
    await insert_v1(v1, records)

    assert await v1.migrate() == SCHEMA_VERSION

    assert await v1.get_records() == sorted(records, key=lambda r: (r.requested_at, r.id))
    assert await partition_of(v1) == {
        records[0].id: "llm_requests_2025_11",
        records[1].id: "llm_requests_2025_11",
        records[2].id: "llm_requests_2025_12",
        records[3].id: "llm_requests_2026_02",
        records[4].id: "llm_requests_2026_02",
    }


async def test_upgrading_keeps_the_comments_and_the_grants(v1: PostgresStore) -> None:
    await v1.query("GRANT SELECT ON llm_requests TO PUBLIC")
    described = (
        "SELECT obj_description('llm_requests'::regclass, 'pg_class') AS about, "
        "(SELECT array_agg(col_description('llm_requests'::regclass, attnum) ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = 'llm_requests'::regclass AND attnum > 0) AS columns, "
        "(SELECT array_agg(a.privilege_type::text) FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE c.oid = 'llm_requests'::regclass AND a.grantee = 0) AS public"
    )
    before = await v1.query(described)

    await v1.migrate()

    assert await v1.query(described) == before
    assert before[0]["public"] == ["SELECT"]
    assert "including cache reads and cache writes" in before[0]["columns"][COLUMNS.index("input_tokens")]


async def test_every_partition_has_every_index_named_after_it(v1: PostgresStore) -> None:
    await insert_v1(v1, v1_records())
    await v1.migrate()
    rows = await v1.query(
        "SELECT c.relname AS partition, array_agg(x.relname::text ORDER BY x.relname) AS indexes "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index ix ON ix.indrelid = c.oid "
        "JOIN pg_class x ON x.oid = ix.indexrelid "
        "WHERE i.inhparent = 'llm_requests'::regclass GROUP BY 1"
    )
    partitions = ["llm_requests_2025_11", "llm_requests_2025_12", "llm_requests_2026_02", *ahead_names()]
    assert {r["partition"]: r["indexes"] for r in rows} == {
        p: sorted([f"{p}_pkey", *(f"{p}_{ix.suffix}" for ix in INDEXES)]) for p in [*partitions, DEFAULT_PARTITION]
    }
    valid = await v1.query("SELECT bool_and(indisvalid) AS ok FROM pg_index WHERE indrelid = 'llm_requests'::regclass")
    assert valid == [{"ok": True}]


async def test_a_fresh_database_has_this_month_the_next_three_and_a_default(pg: PostgresStore) -> None:
    assert await names(pg) == [DEFAULT_PARTITION, *ahead_names()]


async def test_a_record_for_a_month_without_a_partition_still_lands(pg: PostgresStore) -> None:
    past, future = make_record(0, requested_at=at(2019, 4)), make_record(1, requested_at=at(2091, 7))

    await pg.write_batch([past, future])

    assert await pg.get_records() == [past, future]
    assert await partition_of(pg) == {past.id: DEFAULT_PARTITION, future.id: DEFAULT_PARTITION}


@pytest.mark.parametrize("method", ["executemany", "unnest", "copy"])
async def test_a_record_replayed_from_the_spool_stays_one_row(pg_url: str, tmp_path: Path, method: str) -> None:
    store = open_store(pg_url, insert_method=method)
    await store.open()
    await store.migrate()
    now = datetime.now(UTC)
    records = [make_record(0, requested_at=now), make_record(1, requested_at=at(2019, 4, micro=1))]
    spool = Spool(tmp_path / "spool")
    spool.scan()
    try:
        await store.write_batch(records)
        spool.append(records)  # as if the process died before settling them: the next start replays them
        chunk = spool.read_chunk(10)
        assert chunk is not None
        await store.write_batch(chunk.records)
        await store.write_batch(records)

        assert await store.get_records() == sorted(records, key=lambda r: r.requested_at)
    finally:
        spool.close()
        await store.close()


async def test_months_ahead_are_created_once(pg: PostgresStore) -> None:
    later = add_months(month_of(datetime.now(UTC)), 2)
    now = datetime(later.year, later.month, 17, tzinfo=UTC)
    async with pg.pool.acquire() as conn:
        first = await create_months_ahead(conn, now)
        again = await create_months_ahead(conn, now)

    assert (first, again) == (ahead_names(now)[2:], [])
    assert await names(pg) == [DEFAULT_PARTITION, *ahead_names(), *ahead_names(now)[2:]]


async def test_two_migrators_at_once_create_each_month_once(pg_url: str) -> None:
    a, b = await opened(pg_url), await opened(pg_url)
    try:
        assert await asyncio.gather(a.migrate(), b.migrate()) == [SCHEMA_VERSION, SCHEMA_VERSION]
        now = datetime.now(UTC) + timedelta(days=200)
        async with a.pool.acquire() as ca, b.pool.acquire() as cb:
            made = await asyncio.gather(create_months_ahead(ca, now), create_months_ahead(cb, now))

        created = [name for names_made in made for name in names_made]
        expected_new = [n for n in ahead_names(now) if n not in ahead_names()]
        assert sorted(created) == expected_new  # each made once, by one of them
        assert await names(a) == [DEFAULT_PARTITION, *sorted(set(ahead_names()) | set(ahead_names(now)))]
    finally:
        await a.close()
        await b.close()


async def test_a_new_month_takes_its_rows_out_of_the_default_partition(pg: PostgresStore) -> None:
    early = make_record(0, requested_at=at(2091, 7))
    await pg.write_batch([early])

    async with pg.pool.acquire() as conn:
        created = await create_months_ahead(conn, datetime(2091, 6, 1, tzinfo=UTC))

    assert created == ["llm_requests_2091_06", "llm_requests_2091_07", "llm_requests_2091_08", "llm_requests_2091_09"]
    assert await partition_of(pg) == {early.id: "llm_requests_2091_07"}
    assert await pg.get_records() == [early]


async def test_a_busy_default_partition_delays_a_month_and_never_the_inserts(pg: PostgresStore, pg_url: str) -> None:
    reader = await opened(pg_url)  # a long report holding the default partition
    now = datetime.now(UTC)
    try:
        async with reader.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS SHARE MODE")
            later = datetime.combine(add_months(month_of(now), 1), datetime.min.time(), UTC)
            async with pg.pool.acquire() as creator:
                creating = asyncio.create_task(create_months_ahead(creator, later))
                await asyncio.sleep(0.2)
                record = make_record(0, requested_at=now)
                started = asyncio.get_running_loop().time()
                await pg.write_batch([record])
                insert_s = asyncio.get_running_loop().time() - started
                created = await creating

        assert (created, insert_s < 1.0) == ([], True)
        assert await pg.get_records([record.id]) == [record]
        assert await pg.create_partitions_ahead() == []
        async with pg.pool.acquire() as conn:
            assert await create_months_ahead(conn, later) == [ahead_names(later)[-1]]  # the next round makes it
    finally:
        await reader.close()


async def test_the_gateway_task_puts_back_a_missing_month(pg: PostgresStore) -> None:
    missing = ahead_names()[-1]
    await pg.query(f"DROP TABLE {missing}")

    task = asyncio.create_task(keep_months_ahead(pg, every=0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if missing in await names(pg):
                break
    finally:
        task.cancel()

    assert await names(pg) == [DEFAULT_PARTITION, *ahead_names()]


async def test_the_gateway_task_does_nothing_on_sqlite(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    assert await asyncio.wait_for(keep_months_ahead(store, every=0.01), 1) is None


async def test_a_starting_gateway_creates_the_months(pg_url: str, sim: SimServer, tmp_path: Path) -> None:
    harness = await start_gateway(sim_settings(sim, pg_url, tmp_path / "spool"), sim=sim)
    try:
        store = harness.gateway.store
        assert isinstance(store, PostgresStore)
        assert await names(store) == [DEFAULT_PARTITION, *ahead_names()]
    finally:
        await harness.runner.cleanup()
