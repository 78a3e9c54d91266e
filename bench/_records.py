"""One realistic priced chat-completion record, for the benches that write records to a store."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from majordomo_otel.gateway.record import RequestRecord, new_request_id


def sample_record(i: int, at: datetime, *, feature: str = "document-qa", users: int = 50) -> RequestRecord:
    """The `i`-th record, requested `at`: every column filled as the gateway fills it, user `i % users`."""
    return RequestRecord(
        id=new_request_id(),
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=at,
        operation="chat_completions",
        model="gpt-4o-mini-2024-07-18",
        request_model="gpt-4o-mini",
        responded_at=at + timedelta(milliseconds=420),
        response_time_ms=420.5,
        streamed=i % 2 == 0,
        status_code=200,
        input_tokens=1234,
        output_tokens=321,
        cached_tokens=1024,
        usage_status="ok",
        input_cost=Decimal("0.00018510"),
        output_cost=Decimal("0.00019260"),
        total_cost=Decimal("0.00037770"),
        pricing_status="priced",
        raw_metadata={"Feature": feature, "Step": "answer", "User-Id": f"user-{i % users}"},
        majordomo_api_key_id="3f1e9c1a-0000-4000-8000-000000000001",
        provider_api_key_hash="9f86d081884c7d65",
        trace_id=uuid.uuid4().hex,
        span_id=uuid.uuid4().hex[:16],
    )
