"""The gateway's spans: a SERVER span in the caller's trace, a CLIENT child upstream, usage without double counting."""

from __future__ import annotations

import aiohttp
import pytest
from dirty_equals import IsFloat, IsPositiveInt
from gateway_harness import Harness
from opentelemetry.trace import SpanKind

from majordomo_otel.gateway.span_plan import parse_traceparent

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _spans(gw: Harness) -> dict[SpanKind, object]:
    gw.gateway.spans.force_flush()
    return {span.kind: span for span in gw.spans.get_finished_spans()}


async def test_server_span_is_a_child_of_the_callers_span_and_matches_the_record(
    gw: Harness, http: aiohttp.ClientSession
) -> None:
    headers = gw.headers(traceparent=CALLER, **{"X-Majordomo-Feature": "research", "X-Majordomo-User-Id": "u-1"})
    async with http.post(gw.url + CHAT, json=BODY, headers=headers) as resp:
        assert resp.headers["X-Majordomo-Trace-Id"] == "0af7651916cd43dd8448eb211c80319c"
    [record] = await gw.records(expected=1)
    spans = _spans(gw)
    server, client = spans[SpanKind.SERVER], spans[SpanKind.CLIENT]

    assert (record.trace_id, record.span_id, record.parent_span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        format(server.context.span_id, "016x"),
        "b7ad6b7169203331",
    )
    assert server.parent.span_id == 0xB7AD6B7169203331
    assert client.parent.span_id == server.context.span_id
    assert client.context.trace_id == server.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert server.start_time <= client.start_time <= client.end_time <= server.end_time
    assert dict(server.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "url.path": CHAT,
        "majordomo.provider": "openai",
        "majordomo.feature": "research",
        "majordomo.user_id": "u-1",
        "user.id": "u-1",
        "majordomo.request_id": record.id,
        "majordomo.streamed": False,
        "majordomo.usage.status": "reported",
        "majordomo.cost.status": "priced",
        "majordomo.time_to_first_byte_ms": IsFloat,
        "majordomo.usage.input_tokens": record.input_tokens,
        "majordomo.usage.output_tokens": record.output_tokens,
        "majordomo.usage.cache_read_tokens": 0,
        "majordomo.usage.reasoning_tokens": 0,
        "majordomo.cost.input": float(record.input_cost),
        "majordomo.cost.output": float(record.output_cost),
        "majordomo.cost.total": float(record.total_cost),
    }  # no gen_ai.usage.* / operation.cost: the caller's own chat span reports them


async def test_upstream_gets_our_client_span_as_parent(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(gw.url + CHAT, json=BODY, headers=gw.headers(traceparent=CALLER)) as resp:
        assert resp.status == 200
    client = _spans(gw)[SpanKind.CLIENT]
    sent = parse_traceparent(gw.sim.requests[0].header("traceparent"))
    assert (sent.trace_id, sent.span_id) == (client.context.trace_id, client.context.span_id)


async def test_without_trace_context_the_span_is_a_root_with_standard_usage(
    gw: Harness, http: aiohttp.ClientSession
) -> None:
    async with http.post(gw.url + CHAT, json=BODY, headers=gw.headers()) as resp:
        assert resp.status == 200
    [record] = await gw.records(expected=1)
    server = _spans(gw)[SpanKind.SERVER]
    assert server.parent is None
    assert record.parent_span_id is None
    assert {k: v for k, v in server.attributes.items() if k.startswith(("gen_ai.usage", "operation"))} == {
        "gen_ai.usage.input_tokens": IsPositiveInt,
        "gen_ai.usage.output_tokens": IsPositiveInt,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "operation.cost": float(record.total_cost),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (CALLER, (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True)),
        (
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False),
        ),
        (
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future",
            (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True),
        ),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", None),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", None),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None),
        ("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_traceparent_parsing_follows_w3c(value: str | None, expected: tuple | None) -> None:
    ctx = parse_traceparent(value)
    assert (None if ctx is None else (ctx.trace_id, ctx.span_id, ctx.trace_flags.sampled)) == expected
