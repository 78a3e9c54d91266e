"""The gateway's span without a traced caller, and with its OTLP endpoint down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from majordomo_otel.demo._stack import LocalStack, local_stack

from .conftest import GATEWAY_SERVICE, Workflow

#: Plain HTTP requests, as curl would send them: no traceparent, no instrumentation.
REQUESTS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "openai": (
        "/v1/chat/completions",
        {"Authorization": "Bearer sk-sim"},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "anthropic-stream": (
        "/v1/messages",
        {"x-api-key": "sk-ant-sim", "anthropic-version": "2023-06-01"},
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
}


async def _post(stack: LocalStack, name: str, **extra_headers: str) -> tuple[int, dict[str, str], bytes]:
    path, headers, body = REQUESTS[name]
    headers = {"X-Majordomo-Key": stack.key, "X-Majordomo-Feature": "plain", **headers, **extra_headers}
    async with aiohttp.ClientSession() as session, session.post(stack.url + path, json=body, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


def _record(stack: LocalStack, request_id: str) -> dict[str, Any]:
    (row,) = stack.query("SELECT * FROM llm_requests WHERE id = ?", (request_id,))
    return row


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_uninstrumented_caller_gets_a_root_gateway_span_with_standard_usage_and_cost(
    workflow: Workflow, name: str
) -> None:
    stack, receiver = workflow.stack, workflow.receiver
    status, headers, _ = await _post(stack, name)
    record = _record(stack, headers["X-Majordomo-Request-Id"])  # also flushes the gateway's spans
    spans = receiver.wait_for(headers["X-Majordomo-Trace-Id"], 2)
    (server,) = [s for s in spans if s.kind == "SERVER"]
    standard = {k: v for k, v in server.attributes.items() if k.startswith("gen_ai.usage.") or k == "operation.cost"}
    assert (status, server.service, server.parent_span_id, record["parent_span_id"]) == (
        200,
        GATEWAY_SERVICE,
        None,
        None,
    )
    assert (record["trace_id"], record["span_id"]) == (server.trace_id, server.span_id)
    assert standard == {
        "gen_ai.usage.input_tokens": record["input_tokens"],
        "gen_ai.usage.output_tokens": record["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": record["cached_tokens"],
        **(
            {"gen_ai.usage.cache_creation.input_tokens": record["cache_creation_tokens"]}
            if record["cache_creation_tokens"] is not None
            else {}
        ),
        "operation.cost": pytest.approx(record["total_cost"], abs=1e-12),
    }
    assert record["total_cost"] > 0


async def test_caller_with_trace_context_gets_a_child_span_without_standard_usage(workflow: Workflow) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    status, headers, _ = await _post(workflow.stack, "openai", traceparent=f"00-{trace_id}-{parent_id}-01")
    record = _record(workflow.stack, headers["X-Majordomo-Request-Id"])
    (server,) = [s for s in workflow.receiver.wait_for(trace_id, 2) if s.kind == "SERVER"]
    standard = {k for k in server.attributes if k.startswith("gen_ai.usage.") or k == "operation.cost"}
    assert (status, headers["X-Majordomo-Trace-Id"], server.parent_span_id, standard) == (
        200,
        trace_id,
        parent_id,
        set(),
    )
    assert (record["trace_id"], record["span_id"], record["parent_span_id"]) == (trace_id, server.span_id, parent_id)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dead_otlp_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A gateway whose OTLP endpoint is a closed port."""
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{_closed_port()}/v1/traces", timeout=1)
    with local_stack(tmp_path_factory.mktemp("dead-otlp") / "gw.db", span_exporter=exporter) as stack:
        yield stack


async def test_unreachable_otlp_endpoint_does_not_affect_proxying_or_recording(dead_otlp_stack: LocalStack) -> None:
    stack = dead_otlp_stack
    replies = [await _post(stack, name) for name in REQUESTS]
    rows = {
        r["id"]: (r["provider"], r["status_code"], r["pricing_status"])
        for r in stack.query("SELECT * FROM llm_requests")
    }
    assert [(status, len(body) > 0) for status, _, body in replies] == [(200, True)] * len(REQUESTS)
    assert rows == {
        replies[0][1]["X-Majordomo-Request-Id"]: ("openai", 200, "priced"),
        replies[1][1]["X-Majordomo-Request-Id"]: ("anthropic", 200, "priced"),
    }


async def test_unreachable_otlp_endpoint_shows_as_failed_exports_on_readyz(dead_otlp_stack: LocalStack) -> None:
    stack = dead_otlp_stack
    for name in REQUESTS:
        await _post(stack, name)
    stack.flush()  # the batch processor tries the dead endpoint now
    async with aiohttp.ClientSession() as session, session.get(stack.url + "/readyz") as r:
        status, body = r.status, await r.json()
    spans = body["spans"]
    assert (status, spans["exported"], spans["failed"] > 0) == (200, 0, True)
    assert spans["failed"] + spans["pending_or_dropped"] == spans["ended"]
