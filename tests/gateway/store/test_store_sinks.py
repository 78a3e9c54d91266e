"""Both sinks: exact round trips, idempotent inserts, and the guide's SQL verbatim."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from _store_helpers import T0, make_record, physical_order

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store import PostgresStore, Store, open_store


async def test_batch_round_trips_every_column(store: Store) -> None:
    records = [make_record(i) for i in range(5)]
    await store.write_batch(records)
    assert await store.get_records() == records


async def test_sparse_record_round_trips_with_nulls(store: Store) -> None:
    """An unknown model: cost NULL and flagged, never a silent 0."""
    record = RequestRecord(
        id=make_record().id,
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=T0,
        model="gpt-9-unknown",
        input_tokens=10,
        output_tokens=2,
        usage_status="ok",
        pricing_status="unknown_model",
    )
    await store.write_batch([record])
    assert await store.get_records() == [record]
    rows = await store.query("SELECT total_cost, pricing_status, streamed FROM llm_requests")
    assert rows == [{"total_cost": None, "pricing_status": "unknown_model", "streamed": False}]


async def test_naive_datetimes_are_taken_as_utc(store: Store) -> None:
    record = make_record(requested_at=datetime(2025, 1, 2, 3, 4, 5), responded_at=None)
    await store.write_batch([record])
    [got] = await store.get_records()
    assert got.requested_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_duplicate_ids_are_stored_once(store: Store) -> None:
    records = [make_record(i) for i in range(3)]
    await store.write_batch(records)
    await store.write_batch([*records, records[1]])
    assert await store.query("SELECT COUNT(*) AS n FROM llm_requests") == [{"n": 3}]
    assert await store.get_records() == records


async def test_rows_are_inserted_in_batch_order(store: Store) -> None:
    records = [make_record(i) for i in range(50)]
    await store.write_batch(records[::-1])
    assert await physical_order(store) == [r.id for r in records[::-1]]


async def test_get_records_by_ids(store: Store) -> None:
    records = [make_record(i) for i in range(4)]
    await store.write_batch(records)
    assert await store.get_records([records[2].id, records[0].id]) == [records[0], records[2]]


@pytest.mark.parametrize("method", ["unnest", "executemany", "copy"])
async def test_every_postgres_insert_method_round_trips(pg_url: str, method: str) -> None:
    store = open_store(pg_url, insert_method=method)
    assert isinstance(store, PostgresStore)
    await store.open()
    await store.migrate()
    try:
        records = [make_record(i) for i in range(3)]
        await store.write_batch(records)
        await store.write_batch(records)
        assert await store.get_records() == records
    finally:
        await store.close()


def _guide_records() -> list[RequestRecord]:
    # Costs are binary fractions so SQLite's REAL sums and PostgreSQL's NUMERIC sums are both exact.
    rows = [
        ("document-qa", "alice", None, "0.5", 100.0),
        ("document-qa", "alice", None, "0.25", 200.0),
        ("document-qa", "bob", None, "0.125", 300.0),
        ("research", "alice", "search", "0.0625", 100.0),
        ("research", "bob", "search", "0.1875", 300.0),
        ("research", "bob", "summarize", "0.375", 50.0),
        ("chat", "alice", None, "8", 10.0),
    ]
    records = []
    for i, (feature, user, step, cost, latency) in enumerate(rows):
        meta = {"Feature": feature, "User-Id": user} | ({"Step": step} if step else {})
        records.append(make_record(i, raw_metadata=meta, total_cost=Decimal(cost), response_time_ms=latency))
    return records


GUIDE_BY_USER = (
    "SELECT raw_metadata->>'User-Id' AS user_id, SUM(total_cost) AS total_cost, COUNT(*) AS requests "
    "FROM llm_requests WHERE raw_metadata->>'Feature' = 'document-qa' "
    "GROUP BY raw_metadata->>'User-Id' ORDER BY total_cost DESC;"
)
GUIDE_BY_STEP = (
    "SELECT raw_metadata->>'Step' AS step, SUM(total_cost) AS total_cost, "
    "AVG(response_time_ms) AS avg_latency_ms FROM llm_requests WHERE raw_metadata->>'Feature' = 'research' "
    "GROUP BY raw_metadata->>'Step';"
)


async def test_guide_cost_per_user_query_runs_verbatim(store: Store) -> None:
    await store.write_batch(_guide_records())
    assert await store.query(GUIDE_BY_USER) == [
        {"user_id": "alice", "total_cost": 0.75, "requests": 2},
        {"user_id": "bob", "total_cost": 0.125, "requests": 1},
    ]


async def test_guide_cost_per_step_query_runs_verbatim(store: Store) -> None:
    await store.write_batch(_guide_records())
    rows = sorted(await store.query(GUIDE_BY_STEP), key=lambda r: r["step"])
    assert rows == [
        {"step": "search", "total_cost": 0.25, "avg_latency_ms": 200.0},
        {"step": "summarize", "total_cost": 0.375, "avg_latency_ms": 50.0},
    ]


async def test_ping_answers(store: Store) -> None:
    assert await store.ping() is True


async def test_ping_is_false_when_postgres_is_unreachable() -> None:
    store = open_store("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1.0)
    await store.open()
    try:
        assert await store.ping() is False
    finally:
        await store.close()
