"""The gateway's own span encoder writes what the SDK's OTLP encoder writes for the same spans, byte for byte.

Both routes are fed the same finished request (`emit`): the SDK route builds `ReadableSpan`s, which
the SDK's `encode_spans` turns into an `ExportTraceServiceRequest`; the gateway's encoder writes the
bytes itself. Decoded with opentelemetry-proto's generated classes they must be the same message,
and serialized the same bytes, for any attributes, ids, trace state and status.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags

from majordomo_otel.gateway.otlp.encode import SpanEncoder
from majordomo_otel.gateway.otlp.queue import QueueLimits
from majordomo_otel.gateway.otlp.sdk import SdkSpans
from majordomo_otel.gateway.span_plan import SpanPlan, SpanStatus

UNSET: SpanStatus = (StatusCode.UNSET, None)
RESOURCE = Resource.create({"service.name": "majordomo-gateway", "deployment.environment": "test"})
SCOPE = InstrumentationScope("majordomo_otel.gateway", "1.2.3")
INT64 = st.integers(-(2**63), 2**63 - 1)
VALUES = st.one_of(st.text(max_size=300), st.booleans(), INT64, st.floats(allow_nan=False))
ATTRIBUTES = st.dictionaries(st.text(min_size=1, max_size=40), VALUES, max_size=30)
STATUS = st.one_of(
    st.just(UNSET),
    st.tuples(st.just(StatusCode.ERROR), st.one_of(st.none(), st.text(max_size=200))),
)
IDS = st.integers(1, 2**64 - 1)


class _SdkRoute:
    """The SDK route as the gateway runs it for an injected exporter: its spans, as the SDK encodes them."""

    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.output = SdkSpans(self.memory, RESOURCE, SCOPE, QueueLimits(delay_s=0.01))

    def encode(self, *args: Any) -> ExportTraceServiceRequest:
        self.memory.clear()
        self.output.emit(*args)
        assert self.output.force_flush(10)
        return encode_spans(self.memory.get_finished_spans())


@pytest.fixture(scope="module")
def sdk() -> Iterator[_SdkRoute]:
    route = _SdkRoute()
    yield route
    route.output.shutdown()


def _plan(
    *,
    parent: tuple[int, int] | None,
    tracestate: str | None,
    upstream: bool,
    upstream_name: str = "POST /v1/chat/completions",
    upstream_attributes: Mapping[str, Any] | None = None,
) -> SpanPlan:
    ctx = None if parent is None else SpanContext(*parent, is_remote=True, trace_flags=TraceFlags(1))
    plan = SpanPlan(ctx, tracestate)
    if upstream:
        plan.upstream_name = upstream_name
        plan.upstream_attributes = dict(upstream_attributes or {"http.request.method": "POST"})
        plan.upstream_start_ns = plan.now_ns()
        plan.upstream_end_ns = plan.now_ns()
    plan.end_ns = plan.now_ns()
    return plan


def _both(sdk: _SdkRoute, *args: Any) -> tuple[bytes, bytes]:
    encoder = SpanEncoder(RESOURCE, SCOPE)
    ours = encoder.request([encoder.spans(*args)])
    return ours, sdk.encode(*args).SerializeToString()


GATEWAY_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "http.request.method": "POST",
    "url.path": "/v1/chat/completions",
    "majordomo.provider": "openai",
    "majordomo.feature": "research",
    "user.id": "ü-1 ✓",
    "majordomo.request_id": "0190a7e2-1234-7abc-8def-0123456789ab",
    "majordomo.streamed": False,
    "http.response.status_code": 200,
    "majordomo.time_to_first_byte_ms": 0.812,
    "majordomo.usage.input_tokens": 12,
    "majordomo.usage.reasoning_tokens": 0,
    "majordomo.cost.total": 7.2e-06,
}


def test_a_traced_request_with_an_upstream_call_encodes_as_the_sdk_does(sdk: _SdkRoute) -> None:
    plan = _plan(parent=(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331), tracestate="a=1,b=2", upstream=True)
    ours, theirs = _both(sdk, plan, "gateway chat", GATEWAY_ATTRIBUTES, UNSET, UNSET)
    assert ExportTraceServiceRequest.FromString(ours) == ExportTraceServiceRequest.FromString(theirs)
    assert ours == theirs


def test_a_failed_root_request_without_an_upstream_call_encodes_as_the_sdk_does(sdk: _SdkRoute) -> None:
    plan = _plan(parent=None, tracestate=None, upstream=False)
    status: SpanStatus = (StatusCode.ERROR, "upstream unreachable: connection refused")
    ours, theirs = _both(sdk, plan, "gateway chat", GATEWAY_ATTRIBUTES, status, (StatusCode.ERROR, None))
    assert ours == theirs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    attributes=ATTRIBUTES,
    upstream_attributes=ATTRIBUTES,
    name=st.text(max_size=80),
    upstream_name=st.text(max_size=80),
    parent=st.one_of(st.none(), st.tuples(st.integers(1, 2**128 - 1), IDS)),
    tracestate=st.one_of(st.none(), st.just("vendor=abc,other=x-1"), st.text(max_size=40)),
    upstream=st.booleans(),
    status=STATUS,
    upstream_status=STATUS,
)
def test_any_request_encodes_as_the_sdk_does(
    sdk: _SdkRoute,
    attributes: dict[str, Any],
    upstream_attributes: dict[str, Any],
    name: str,
    upstream_name: str,
    parent: tuple[int, int] | None,
    tracestate: str | None,
    upstream: bool,
    status: SpanStatus,
    upstream_status: SpanStatus,
) -> None:
    plan = _plan(
        parent=parent,
        tracestate=tracestate,
        upstream=upstream,
        upstream_name=upstream_name,
        upstream_attributes=upstream_attributes,
    )
    ours, theirs = _both(sdk, plan, name, attributes, status, upstream_status)
    assert ours == theirs


def test_cached_attribute_bytes_never_confuse_a_bool_an_int_and_a_float(sdk: _SdkRoute) -> None:
    encoder = SpanEncoder(RESOURCE, SCOPE)
    plan = _plan(parent=None, tracestate=None, upstream=False)
    for value in (True, 1, 1.0, "1", False, 0, 0.0, 1):  # equal as dict keys, different on the wire
        attributes = {"x": value}
        ours = encoder.request([encoder.spans(plan, "n", attributes, UNSET, UNSET)])
        theirs = sdk.encode(plan, "n", attributes, UNSET, UNSET)
        assert ExportTraceServiceRequest.FromString(ours) == theirs


def _attribute(request: bytes) -> tuple[str, Any]:
    [attribute] = ExportTraceServiceRequest.FromString(request).resource_spans[0].scope_spans[0].spans[0].attributes
    return attribute.value.WhichOneof("value"), getattr(attribute.value, attribute.value.WhichOneof("value"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2**70, ("double_value", float(2**70))),  # beyond int64: the SDK drops the attribute, we keep it as a double
        ("lone \ud800 surrogate", ("string_value", "lone \ufffd surrogate")),  # invalid UTF-8 would void the batch
    ],
)
def test_values_the_sdk_cannot_encode_are_kept(value: Any, expected: tuple[str, Any]) -> None:
    encoder = SpanEncoder(RESOURCE, SCOPE)
    plan = _plan(parent=None, tracestate=None, upstream=False)
    assert _attribute(encoder.request([encoder.spans(plan, "n", {"x": value}, UNSET, UNSET)])) == expected


def test_a_batch_is_one_resource_and_one_scope_around_every_request_s_spans(sdk: _SdkRoute) -> None:
    encoder = SpanEncoder(RESOURCE, SCOPE)
    plans = [_plan(parent=None, tracestate=None, upstream=bool(i % 2)) for i in range(5)]
    request = ExportTraceServiceRequest.FromString(
        encoder.request([encoder.spans(p, "gateway chat", {"i": i}, UNSET, UNSET) for i, p in enumerate(plans)])
    )
    [resource_spans] = request.resource_spans
    [scope_spans] = resource_spans.scope_spans
    assert (
        {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"],
        (scope_spans.scope.name, scope_spans.scope.version),
        [(s.kind, s.span_id.hex()) for s in scope_spans.spans],
    ) == (
        "majordomo-gateway",
        ("majordomo_otel.gateway", "1.2.3"),
        [
            (kind, format(span_id, "016x"))
            for p in plans
            for kind, span_id in ([(3, p.upstream_span_id)] if p.upstream_start_ns else []) + [(2, p.span_id)]
        ],
    )


def test_one_encoder_names_every_span_right_and_hostile_paths_do_not_grow_its_memory() -> None:
    """Span names are memoised per encoder (few recur); 3,000 distinct 2 KB upstream paths (6 MB of names)
    must each come out as their own span's name, and leave the encoder holding well under 1 MB."""
    encoder = SpanEncoder(RESOURCE, SCOPE)
    misnamed = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(3000):
            name = f"POST /v1/{i:04d}/" + "x" * 2000
            plan = _plan(parent=None, tracestate=None, upstream=True, upstream_name=name)
            request = ExportTraceServiceRequest.FromString(
                encoder.request([encoder.spans(plan, "gateway chat", {}, UNSET, UNSET)])
            )
            if [s.name for s in request.resource_spans[0].scope_spans[0].spans] != [name, "gateway chat"]:
                misnamed.append(i)
        del name, plan, request
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert (misnamed, held < 1 << 20) == ([], True)


class _Label(str):
    """A str subclass: the C encoder leaves it to Python, which must give the same bytes."""


ANY_VALUE = st.recursive(
    st.one_of(
        st.text(max_size=50),
        st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=5),  # lone surrogates
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.none(),
        st.binary(max_size=20),
        st.builds(_Label, st.text(max_size=10)),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
ANY_KEY = st.one_of(st.text(max_size=20), st.just(""), st.just("\ud800"), st.builds(_Label, st.text(max_size=5)))


def test_this_install_has_the_c_encoder() -> None:
    """`pip install -e .` compiles it (hatch_build.py); a machine without a C compiler would fall back."""
    assert SpanEncoder(RESOURCE, SCOPE).native is True


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=st.dictionaries(ANY_KEY, ANY_VALUE, max_size=12),
    upstream=st.booleans(),
    status=STATUS,
)
def test_the_c_and_the_python_encoder_write_the_same_bytes(
    attributes: dict[str, Any], upstream: bool, status: SpanStatus
) -> None:
    plan = _plan(parent=(5, 7), tracestate="a=b", upstream=upstream, upstream_attributes=attributes)
    native, python = SpanEncoder(RESOURCE, SCOPE), SpanEncoder(RESOURCE, SCOPE, native=False)
    assert (native.native, python.native) == (True, False)
    assert native.spans(plan, "n", attributes, status, UNSET) == python.spans(plan, "n", attributes, status, UNSET)
