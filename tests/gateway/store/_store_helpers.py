"""Record factory and small helpers shared by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from majordomo_otel.gateway.record import RequestRecord, new_request_id
from majordomo_otel.gateway.store import Store

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
T0 = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_record(i: int = 0, **overrides: Any) -> RequestRecord:
    """A record with every column set (so a round trip checks them all)."""
    values: dict[str, Any] = dict(
        id=new_request_id(),
        provider="anthropic",
        request_path="/v1/messages",
        request_method="POST",
        requested_at=T0 + timedelta(seconds=i),
        operation="messages",
        model="claude-sonnet-4-5-20250929",
        request_model="claude-sonnet-4-5",
        responded_at=T0 + timedelta(seconds=i, milliseconds=812, microseconds=5),
        response_time_ms=812.005,
        time_to_first_token_ms=301.25,
        streamed=True,
        status_code=200,
        input_tokens=1200 + i,
        output_tokens=340,
        cached_tokens=1000,
        cache_creation_tokens=50,
        reasoning_tokens=12,
        usage_status="ok",
        input_cost=Decimal("0.0006354"),
        output_cost=Decimal("0.0051"),
        total_cost=Decimal("0.0057354"),
        pricing_status="priced",
        error_message=None,
        raw_metadata={"Feature": "document-qa", "User-Id": f"user-{i % 3}", "Note": "naïve ✓"},
        majordomo_api_key_id="3f1e9c1a-0000-4000-8000-000000000001",
        provider_api_key_hash="9f86d081884c7d65",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_span_id="a3ce929d0e0e4736",
    )
    values.update(overrides)
    return RequestRecord(**values)


async def physical_order(store: Store) -> list[str]:
    """Ids in the order rows were inserted (rowid in SQLite, ctid in an insert-only PostgreSQL heap)."""
    order = "rowid" if store.dialect == "sqlite" else "ctid"
    rows = await store.query(f"SELECT id FROM llm_requests ORDER BY {order}")
    return [str(r["id"]) for r in rows]
