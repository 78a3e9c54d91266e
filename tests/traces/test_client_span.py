"""The HTTP client span's gateway attributes (`_client_span`), on real SDK spans and httpx2 headers.

`instrument()` registering these hooks, against the real gateway, is covered by
`test_workflow_traces.py::test_client_http_span_carries_the_request_id_and_parents_the_gateway_span`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx2
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from majordomo_otel._client_span import annotate, response_hooks

REQUEST_ID = "01a2193f-87e9-7ede-8ab3-9a4dda2684b2"


class _Response(NamedTuple):
    """The shape the httpx instrumentation passes to response hooks (`ResponseInfo`)."""

    status_code: int
    headers: httpx2.Headers | None
    stream: Any = None
    extensions: Any = None


def _attributes_after(headers: dict[str, str] | None, hook: Any = None) -> dict[str, Any]:
    """Attributes a fresh span ends with once `hook` (default: `annotate`) has seen a response."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("POST") as span:
        wire = httpx2.Headers(headers) if headers is not None else None
        if hook is None:
            annotate(span, wire)
        else:
            hook(span, None, _Response(200, wire))
    (finished,) = exporter.get_finished_spans()
    return dict(finished.attributes or {})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Majordomo-Request-Id": REQUEST_ID}, {"majordomo.request_id": REQUEST_ID}),
        ({"x-majordomo-request-id": REQUEST_ID}, {"majordomo.request_id": REQUEST_ID}),
        ({"Content-Type": "application/json"}, {}),
        ({"X-Majordomo-Request-Id": "x" * 129}, {}),
        (None, {}),
    ],
    ids=["id", "lower-case-name", "other-host", "long-id", "none"],
)
def test_annotate(headers: dict[str, str] | None, expected: dict[str, Any]) -> None:
    assert _attributes_after(headers) == expected


def test_a_broken_response_never_raises_into_the_request() -> None:
    hook = response_hooks()["response_hook"]
    assert _attributes_after({}, lambda span, request, response: hook(span, request, object())) == {}
