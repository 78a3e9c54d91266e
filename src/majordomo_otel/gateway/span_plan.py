"""One request's spans before they exist: their ids, parent and clock readings (`SpanPlan`).

Fixed when the request arrives, because the response headers and the upstream `traceparent` need the
ids at once; `spans.GatewaySpans` renders the spans from the plan and the finished record, and the
outputs in `otlp/` encode them. A module of its own, below both, so neither imports the other.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from opentelemetry.trace import SpanContext, StatusCode, TraceFlags

#: A span's status: its code, and the description an ERROR carries.
SpanStatus = tuple[StatusCode, str | None]


class SpanPlan:
    """The ids and clock readings of one request's two spans, fixed when the request arrives.

    Ids are known up front (the response headers and the upstream `traceparent` need them); the
    spans themselves are rendered once, at the end, from the finished record.
    """

    __slots__ = (
        "end_ns",
        "parent",
        "perf0",
        "sampled",
        "server_attributes",
        "span_id",
        "start_ns",
        "trace_id",
        "tracestate",
        "upstream_attributes",
        "upstream_end_ns",
        "upstream_name",
        "upstream_span_id",
        "upstream_start_ns",
    )

    def __init__(self, parent: SpanContext | None, tracestate: str | None) -> None:
        self.parent = parent
        self.tracestate = tracestate
        self.trace_id = parent.trace_id if parent is not None else _random_trace_id()
        self.span_id = _random_span_id()
        self.upstream_span_id = _random_span_id()
        self.sampled = parent.trace_flags.sampled if parent is not None else True
        self.start_ns = time.time_ns()
        self.perf0 = time.perf_counter_ns()
        self.end_ns = 0
        self.upstream_start_ns = 0
        self.upstream_end_ns = 0
        self.upstream_name = ""
        self.server_attributes: dict[str, Any] = {}
        self.upstream_attributes: dict[str, Any] = {}

    def now_ns(self) -> int:
        """Wall-clock nanoseconds, advanced by the monotonic clock (durations never go negative)."""
        return self.start_ns + time.perf_counter_ns() - self.perf0

    def elapsed_ms(self) -> float:
        return round((time.perf_counter_ns() - self.perf0) / 1e6, 3)

    @property
    def upstream_seconds(self) -> float | None:
        if not self.upstream_start_ns:
            return None
        return ((self.upstream_end_ns or self.now_ns()) - self.upstream_start_ns) / 1e9

    @property
    def trace_id_hex(self) -> str:
        return format(self.trace_id, "032x")

    def upstream_traceparent(self) -> str:
        """`traceparent` for the upstream call: its parent is our CLIENT span."""
        return f"00-{self.trace_id:032x}-{self.upstream_span_id:016x}-{'01' if self.sampled else '00'}"


def _random_trace_id() -> int:
    return random.getrandbits(128) or 1


def _random_span_id() -> int:
    return random.getrandbits(64) or 1


_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


def parse_traceparent(value: str | None) -> SpanContext | None:
    """W3C trace context: the caller's span, or None when absent or invalid (the span is then a root)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags = match.group(1, 2, 3, 4)
    if version == "ff" or (version == "00" and match.group(5)):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(flags, 16) & 0x01))
