"""An agent run inside `tags(...)` with each provider, streaming and not, one tool call."""

from __future__ import annotations

import pytest

import majordomo_otel
from majordomo_otel.sim import SimServer

from ._helpers import (
    ANSWER,
    EXPECTED_ATTRS,
    EXPECTED_HEADERS,
    majordomo_attrs,
    majordomo_headers,
    make_agent,
    make_model,
    parse_traceparent,
    run_agent,
    span_tree,
)

PROVIDERS = ["openai", "anthropic", "gemini"]
MODEL_NAMES = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.0-flash"}
TAGS = {"feature": "research", "step": "synthesis", "user_id": "u-1", "session_id": "s-1"}


@pytest.fixture(params=[False, True], ids=["plain", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_span_tree_of_a_run(exporter, gateway: SimServer, provider: str, stream: bool) -> None:
    agent = make_agent(make_model(provider, gateway.url))
    with majordomo_otel.tags(**TAGS):
        assert await run_agent(agent, stream=stream) == ANSWER
    chat = f"chat {MODEL_NAMES[provider]}"
    assert span_tree(exporter.get_finished_spans()) == [
        ("invoke_agent researcher", None),
        (chat, "invoke_agent researcher"),
        ("POST", chat),
        ("execute_tool lookup", "invoke_agent researcher"),
        (chat, "invoke_agent researcher"),
        ("POST", chat),
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_span_carries_the_tags(exporter, gateway: SimServer, provider: str, stream: bool) -> None:
    agent = make_agent(make_model(provider, gateway.url))
    with majordomo_otel.tags(**TAGS):
        await run_agent(agent, stream=stream)
    spans = exporter.get_finished_spans()
    assert [majordomo_attrs(s) for s in spans] == [EXPECTED_ATTRS] * len(spans)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_gateway_gets_exactly_the_tag_headers(exporter, gateway: SimServer, provider: str, stream: bool) -> None:
    agent = make_agent(make_model(provider, gateway.url))
    with majordomo_otel.tags(**TAGS):
        await run_agent(agent, stream=stream)
    assert majordomo_headers(gateway) == [EXPECTED_HEADERS, EXPECTED_HEADERS]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_traceparent_is_the_http_span_under_chat(
    exporter, gateway: SimServer, provider: str, stream: bool
) -> None:
    agent = make_agent(make_model(provider, gateway.url))
    with majordomo_otel.tags(**TAGS):
        await run_agent(agent, stream=stream)
    spans = {s.context.span_id: s for s in exporter.get_finished_spans()}
    run = next(s for s in spans.values() if s.name.startswith("invoke_agent"))
    parents = []
    for request in gateway.requests:
        trace_id, parent_id = parse_traceparent(request.header("traceparent"))
        http_span = spans[parent_id]
        chat_span = spans[http_span.parent.span_id]
        parents.append((trace_id == run.context.trace_id, http_span.name, chat_span.name.split()[0]))
    assert parents == [(True, "POST", "chat"), (True, "POST", "chat")]
