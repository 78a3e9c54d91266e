"""Every query in examples/queries.sql runs on SQLite and on PostgreSQL and gives the same rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from majordomo_otel.gateway.record import RequestRecord, new_request_id
from majordomo_otel.gateway.store import Store, open_store
from pg_server import PG_DSN, drop_schema

QUERIES_SQL = Path(__file__).parents[2] / "examples" / "queries.sql"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"


def _queries() -> dict[str, str]:
    """title (the comment line above it) → statement."""
    queries: dict[str, str] = {}
    title = ""
    lines: list[str] = []
    for line in QUERIES_SQL.read_text().splitlines():
        if line.startswith("-- ") and not lines:
            title = line[3:]
        elif line.strip() and not line.startswith("--"):
            lines.append(line)
            if line.rstrip().endswith(";"):
                queries[title] = "\n".join(lines)
                lines = []
    return queries


QUERIES = _queries()


def _record(
    minutes: int,
    tags: dict[str, str],
    cost: str | None,
    *,
    trace: str | None = None,
    model: str = "gpt-4o-mini",
    latency: float = 100.0,
) -> RequestRecord:
    at = T0 + timedelta(minutes=minutes)
    return RequestRecord(
        id=new_request_id(),
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=at,
        operation="chat_completions",
        model=model,
        request_model=model,
        responded_at=at + timedelta(milliseconds=latency),
        response_time_ms=latency,
        status_code=200,
        input_tokens=100,
        output_tokens=10,
        cached_tokens=0,
        usage_status="reported",
        input_cost=Decimal(cost) if cost else None,
        output_cost=Decimal(0) if cost else None,
        total_cost=Decimal(cost) if cost else None,
        pricing_status="priced" if cost else "unknown_model",
        raw_metadata=tags,
        trace_id=trace,
    )


RECORDS = [
    _record(0, {"Feature": "document-qa", "User-Id": "alice", "Session-Id": "s1"}, "0.5", trace=TRACE_A),
    _record(1, {"Feature": "document-qa", "User-Id": "alice", "Session-Id": "s1"}, "0.25", trace=TRACE_A),
    _record(2, {"Feature": "document-qa", "User-Id": "bob"}, "0.125", trace=TRACE_B),
    _record(3, {"Feature": "research", "Step": "query-gen", "User-Id": "bob"}, "0.0625", latency=300.0),
    _record(4, {"Feature": "research", "Step": "synthesis", "User-Id": "bob"}, "0.375", latency=50.0),
    _record(24 * 60, {"Feature": "research", "Step": "synthesis", "User-Id": "carol"}, "1", latency=150.0),
    _record(24 * 60 + 1, {"Feature": "research", "User-Id": "carol"}, None, model="my-finetune"),
]


async def _seeded(url: str) -> Store:
    store = open_store(url)
    await store.open()
    await store.migrate()
    await store.write_batch(RECORDS)
    return store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await _seeded(f"sqlite:///{tmp_path / 'queries.db'}")
    yield store
    await store.close()


@pytest.fixture
async def pg_store() -> AsyncIterator[Store]:
    schema = f"examples_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        store = await _seeded(f"{PG_DSN}?schema={schema}")
        yield store
        await store.close()
    finally:
        await drop_schema(schema)


def _plain(value: Any) -> Any:
    """One spelling for both stores: numbers as floats, days and times as ISO text."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return round(float(value), 9)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def test_the_file_has_the_guide_queries_and_the_recipes() -> None:
    assert list(QUERIES) == [
        "Cost per user for a feature (the guide's query, verbatim)",
        "Cost per step of a workflow (the guide's query, verbatim)",
        "Cost per trace: paste a trace_id into Jaeger or Logfire to see the agent run it came from",
        "Cost per session",
        "Top users across all features",
        "Daily cost per feature (days in UTC on SQLite; in the session's TimeZone on PostgreSQL)",
        "Cost per model and provider",
        "Unpriced requests: unknown models (cost NULL, flagged) and responses that carried no usage",
    ]


@pytest.mark.parametrize("title", list(QUERIES))
async def test_query_gives_the_same_rows_on_sqlite_and_postgresql(
    title: str, sqlite_store: Store, pg_store: Store
) -> None:
    sql = QUERIES[title]
    on_sqlite = _rows(await sqlite_store.query(sql))
    on_pg = _rows(await pg_store.query(sql))
    unordered = "ORDER BY" not in sql
    if unordered:
        on_sqlite, on_pg = (sorted(r, key=repr) for r in (on_sqlite, on_pg))
    assert (on_pg, len(on_sqlite) > 0) == (on_sqlite, True)


async def test_cost_per_user_for_a_feature(sqlite_store: Store) -> None:
    assert _rows(await sqlite_store.query(QUERIES["Cost per user for a feature (the guide's query, verbatim)"])) == [
        {"user_id": "alice", "total_cost": 0.75, "requests": 2},
        {"user_id": "bob", "total_cost": 0.125, "requests": 1},
    ]


async def test_cost_per_trace(sqlite_store: Store) -> None:
    title = "Cost per trace: paste a trace_id into Jaeger or Logfire to see the agent run it came from"
    assert _rows(await sqlite_store.query(QUERIES[title])) == [
        {"trace_id": TRACE_B, "started_at": "2026-03-01T10:02:00.000000Z", "requests": 1, "total_cost": 0.125},
        {"trace_id": TRACE_A, "started_at": "2026-03-01T10:00:00.000000Z", "requests": 2, "total_cost": 0.75},
    ]


async def test_daily_cost_per_feature(sqlite_store: Store) -> None:
    title = "Daily cost per feature (days in UTC on SQLite; in the session's TimeZone on PostgreSQL)"
    assert _rows(await sqlite_store.query(QUERIES[title])) == [
        {"day": "2026-03-01", "feature": "document-qa", "requests": 3, "total_cost": 0.875},
        {"day": "2026-03-01", "feature": "research", "requests": 2, "total_cost": 0.4375},
        {"day": "2026-03-02", "feature": "research", "requests": 2, "total_cost": 1.0},
    ]


async def test_unpriced_requests_are_listed(sqlite_store: Store) -> None:
    title = "Unpriced requests: unknown models (cost NULL, flagged) and responses that carried no usage"
    assert _rows(await sqlite_store.query(QUERIES[title])) == [
        {
            "pricing_status": "unknown_model",
            "usage_status": "reported",
            "provider": "openai",
            "model": "my-finetune",
            "requests": 1,
            "input_tokens": 100,
            "output_tokens": 10,
        }
    ]
