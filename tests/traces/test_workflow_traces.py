"""Issue 4's "done when": one trace per agent run across client and gateway, joined to the cost records.

The workflow (`_workflow_client.py`): four users at once, each a tagged run of two steps, `query-gen`
(a tool call, not streamed) then `synthesis` (streamed), over OpenAI, Anthropic, Gemini native and
Gemini's OpenAI-compatible API. Spans of both sides arrive over OTLP/HTTP at a local receiver.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from ._otlp_receiver import ReceivedSpan, tree
from ._workflow_client import USERS
from .conftest import CLIENT_SERVICE, GATEWAY_SERVICE, Workflow

#: route → (gateway span name, upstream span name); `{model}` and `{stream}` filled per call
_GATEWAY_CALLS = {
    "openai": ("gateway chat", "POST /v1/chat/completions"),
    "anthropic": ("gateway chat", "POST /v1/messages"),
    "gemini": ("gateway generate_content", "POST /v1beta/models/{model}:{stream}"),
    "gemini-openai": ("gateway chat", "POST /v1beta/openai/chat/completions"),
}


def _chat(route: str, model: str, streamed: bool) -> list[Any]:
    server, upstream = _GATEWAY_CALLS[route]
    upstream = upstream.format(model=model, stream="streamGenerateContent" if streamed else "generateContent")
    return [
        f"{CLIENT_SERVICE}: CLIENT chat {model}",
        [
            [
                f"{CLIENT_SERVICE}: CLIENT POST",
                [[f"{GATEWAY_SERVICE}: SERVER {server}", [[f"{GATEWAY_SERVICE}: CLIENT {upstream}", []]]]],
            ]
        ],
    ]


def _expected_tree(user: str) -> list[Any]:
    (query_route, query_model), (synth_route, synth_model) = USERS[user]
    query_gen = [
        f"{CLIENT_SERVICE}: INTERNAL invoke_agent query-gen",
        [
            _chat(query_route, query_model, streamed=False),  # the tool call
            _chat(query_route, query_model, streamed=False),  # the answer
            [f"{CLIENT_SERVICE}: INTERNAL execute_tool search_web", []],
        ],
    ]
    synthesis = [f"{CLIENT_SERVICE}: INTERNAL invoke_agent synthesis", [_chat(synth_route, synth_model, streamed=True)]]
    return [[f"{CLIENT_SERVICE}: INTERNAL workflow {user}", [query_gen, synthesis]]]


def _gateway_servers(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == GATEWAY_SERVICE and s.kind == "SERVER"]


def _chat_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == CLIENT_SERVICE and s.name.startswith("chat ")]


@pytest.mark.parametrize("user", list(USERS))
def test_one_tree_per_run(workflow: Workflow, user: str) -> None:
    assert tree(workflow.spans(user)) == _expected_tree(user)


def test_every_record_belongs_to_a_run(workflow: Workflow) -> None:
    per_trace = defaultdict(int)
    for record in workflow.records:
        per_trace[record["trace_id"]] += 1
    # two requests for the tool-calling step, one for the streamed one
    assert dict(per_trace) == {trace_id: 3 for trace_id in workflow.trace_ids.values()}


@pytest.mark.parametrize("user", list(USERS))
def test_records_carry_the_gateway_span_ids(workflow: Workflow, user: str) -> None:
    spans = workflow.spans(user)
    from_records = {r["id"]: (r["trace_id"], r["span_id"], r["parent_span_id"]) for r in workflow.records_of(user)}
    from_spans = {
        s.attributes["majordomo.request_id"]: (s.trace_id, s.span_id, s.parent_span_id) for s in _gateway_servers(spans)
    }
    assert from_records == from_spans
    assert {trace_id for trace_id, _, _ in from_records.values()} == {workflow.trace_ids[user]}


@pytest.mark.parametrize("user", list(USERS))
def test_client_http_span_carries_the_request_id_and_parents_the_gateway_span(workflow: Workflow, user: str) -> None:
    spans = workflow.spans(user)
    http_spans = {s.span_id: s for s in spans if s.service == CLIENT_SERVICE and s.name == "POST"}
    by_request_id = {
        s.attributes["majordomo.request_id"]: http_spans[s.parent_span_id].attributes.get("majordomo.request_id")
        for s in _gateway_servers(spans)
    }
    assert by_request_id == {r["id"]: r["id"] for r in workflow.records_of(user)}


def _chat_costs_by_request_id(spans: list[ReceivedSpan]) -> dict[str, float | None]:
    """Pydantic AI's `operation.cost` per request: chat span → its HTTP client span's request id."""
    children = defaultdict(list)
    for span in spans:
        children[span.parent_span_id].append(span)
    costs = {}
    for chat in _chat_spans(spans):
        (http,) = children[chat.span_id]
        costs[http.attributes["majordomo.request_id"]] = chat.attributes.get("operation.cost")
    return costs


@pytest.mark.parametrize("user", list(USERS))
def test_record_costs_equal_pydantic_ai_chat_span_costs(workflow: Workflow, user: str) -> None:
    """Over the requests Pydantic AI prices itself (see the Gemini-compat test below for the others)."""
    chat = {k: v for k, v in _chat_costs_by_request_id(workflow.spans(user)).items() if v is not None}
    records = {r["id"]: r["total_cost"] for r in workflow.records_of(user) if r["id"] in chat}
    assert chat  # every user has at least one step on a route Pydantic AI prices
    assert sum(records.values()) == pytest.approx(sum(chat.values()), abs=1e-9)
    assert records == {request_id: pytest.approx(cost, abs=1e-12) for request_id, cost in chat.items()}


def test_every_record_is_priced(workflow: Workflow) -> None:
    assert {r["pricing_status"] for r in workflow.records} == {"priced"}


def test_pydantic_ai_prices_gemini_through_the_openai_compatible_api(workflow: Workflow) -> None:
    """KNOWN GAP (fails today): `create_gemini_model()` is an `OpenAIChatModel` on an `OpenAIProvider`
    pointed at the gateway, so Pydantic AI looks `gemini-3.5-flash-lite` up under provider `openai` and
    finds no price: its chat span has no `operation.cost`; the gateway span, in a traced call, has
    none either (policy `auto`). Those requests' cost is then in the SQL record but in no span's
    `operation.cost`, so a backend summing the trace under-counts.
    """
    unpriced = sorted(
        (r["provider"], r["model"])
        for user in USERS
        for request_id, cost in _chat_costs_by_request_id(workflow.spans(user)).items()
        if cost is None
        for r in workflow.records
        if r["id"] == request_id
    )
    assert unpriced == []


@pytest.mark.parametrize("user", list(USERS))
def test_operation_cost_over_the_whole_trace_counts_each_request_once(workflow: Workflow, user: str) -> None:
    spans = workflow.spans(user)
    carriers = sorted(f"{s.service}: {s.name}" for s in spans if "operation.cost" in s.attributes)
    total = sum(s.attributes.get("operation.cost", 0.0) for s in spans)
    records_total = sum(r["total_cost"] for r in workflow.records_of(user))
    assert carriers == sorted(f"{CLIENT_SERVICE}: {s.name}" for s in _chat_spans(spans))
    assert total == pytest.approx(records_total, abs=1e-9)


def test_traced_gateway_spans_carry_majordomo_cost_but_no_standard_usage(workflow: Workflow) -> None:
    spans = [s for user in USERS for s in _gateway_servers(workflow.spans(user))]
    standard = {k for s in spans for k in s.attributes if k.startswith("gen_ai.usage.") or k == "operation.cost"}
    costs = {s.attributes["majordomo.request_id"]: s.attributes["majordomo.cost.total"] for s in spans}
    assert standard == set()
    assert costs == {r["id"]: pytest.approx(r["total_cost"], abs=1e-12) for r in workflow.records}


def test_spans_and_records_carry_the_run_tags(workflow: Workflow) -> None:
    gateway = {
        (s.attributes["majordomo.user_id"], s.attributes["majordomo.step"], s.attributes["majordomo.feature"])
        for user in USERS
        for s in _gateway_servers(workflow.spans(user))
    }
    records = {
        (r["trace_id"], r["raw_metadata"]["User-Id"], r["raw_metadata"]["Step"], r["raw_metadata"]["Feature"])
        for r in workflow.records
    }
    steps = {(user, step, "research") for user in USERS for step in ("query-gen", "synthesis")}
    assert (gateway, records) == (steps, {(workflow.trace_ids[u], u, s, f) for u, s, f in steps})
