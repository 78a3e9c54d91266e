"""Known records and helpers: a real store per test, seeded through `write_batch`, and the CLI in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from majordomo_otel import cli
from majordomo_otel.gateway.record import RequestRecord, new_request_id
from majordomo_otel.gateway.store import open_store
from pg_server import PG_DSN

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"


async def pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def seed(url: str, records: Sequence[RequestRecord]) -> None:
    async def run() -> None:
        store = open_store(url)
        await store.open()
        try:
            await store.migrate()
            await store.write_batch(records)
        finally:
            await store.close()

    asyncio.run(run())


def record(
    *,
    at: datetime,
    provider: str = "openai",
    model: str | None = "gpt-4o-mini",
    tags: dict[str, str] | None = None,
    tokens: tuple[int, int] | None = None,
    cost: str | None = None,
    pricing_status: str | None = None,
    status_code: int = 200,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> RequestRecord:
    """A finished request as the gateway writes it; priced iff `cost` is given."""
    if pricing_status is None:
        pricing_status = "priced" if cost is not None else "no_usage" if tokens is None else "unknown_model"
    return RequestRecord(
        id=new_request_id(),
        provider=provider,
        request_path="/v1/chat/completions" if provider == "openai" else "/v1/messages",
        request_method="POST",
        requested_at=at,
        operation="chat_completions" if provider == "openai" else "messages",
        model=model,
        request_model=model,
        responded_at=at + timedelta(milliseconds=850),
        response_time_ms=850.0,
        status_code=status_code,
        input_tokens=tokens[0] if tokens else None,
        output_tokens=tokens[1] if tokens else None,
        usage_status="reported" if tokens else "missing",
        total_cost=Decimal(cost) if cost is not None else None,
        pricing_status=pricing_status,
        raw_metadata=tags or {},
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id="b7ad6b7169203331" if trace_id else None,
    )


def tags(
    feature: str | None = None, step: str | None = None, user: str | None = None, session: str | None = None
) -> dict[str, str]:
    """`raw_metadata` as the gateway writes it: Title-Case header suffixes."""
    pairs = {"Feature": feature, "Step": step, "User-Id": user, "Session-Id": session}
    return {k: v for k, v in pairs.items() if v is not None}


#: Two agent runs (traces A and B), an unknown model, a failed call with no usage and no tags, an old request.
KNOWN_RECORDS: list[RequestRecord] = [
    record(
        at=T0,
        tags=tags("research", "plan", "alice", "s1"),
        tokens=(1200, 300),
        cost="0.00036",
        trace_id=TRACE_A,
        span_id="00f067aa0ba902b7",
    ),
    record(
        at=T0 + timedelta(seconds=2),
        provider="anthropic",
        model="claude-sonnet-4-5",
        tags=tags("research", "answer", "alice", "s1"),
        tokens=(5000, 800),
        cost="0.027",
        trace_id=TRACE_A,
        span_id="53995c3f42cd8ad8",
    ),
    record(
        at=T0 + timedelta(seconds=3),
        model="my-finetune-xyz",
        tags=tags("research", "plan", "alice", "s1"),
        tokens=(400, 50),
        trace_id=TRACE_A,
        span_id="1f3c6d8e2a4b5c70",
    ),
    record(
        at=T0 + timedelta(seconds=60),
        provider="gemini",
        model="gemini-2.5-flash",
        tags=tags("research", "answer", "bob", "s2"),
        tokens=(2000, 500),
        cost="0.00185",
        trace_id=TRACE_B,
        span_id="a1b2c3d4e5f60718",
    ),
    record(
        at=T0 + timedelta(seconds=61),
        tags=tags("support", user="bob", session="s2"),
        tokens=(800, 100),
        cost="0.00018",
        trace_id=TRACE_B,
        span_id="9a8b7c6d5e4f3a2b",
    ),
    record(at=T0 + timedelta(days=1), provider="anthropic", model="claude-sonnet-4-5", status_code=500),
    record(at=T0 - timedelta(days=10), tags=tags(user="carol"), tokens=(100, 20), cost="0.000027"),
]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`majordomo costs ...` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(["costs", *argv])
    out, err = capsys.readouterr()
    return code, out, err
