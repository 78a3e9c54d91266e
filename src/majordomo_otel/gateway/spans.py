"""The gateway's spans: one SERVER span per request, a CLIENT child for the upstream call.

The SERVER span is a child of the caller's `traceparent`, so the gateway's work shows up inside the
agent's own trace, and its ids go on the record so SQL rows and spans join on `trace_id`. Both are
rendered from the same `RequestRecord` as the SQL row, so they cannot disagree.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Mapping
from typing import Any, Final, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags

from .. import semconv as sc
from .._otlp import span_exporter_from_env, traces_target
from .otlp.export import OtlpSpans
from .otlp.queue import ExportStats, QueueLimits
from .otlp.sdk import SdkSpans
from .providers import BUILTIN
from .record import RequestRecord
from .settings import SpanUsagePolicy

# OTel GenAI semantic conventions.
_OPERATION_NAMES: Final = {
    "chat_completions": "chat",
    "responses": "chat",
    "messages": "chat",
    "generate_content": "generate_content",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "count_tokens": "count_tokens",
}
#: Built-in provider name → gen_ai.provider.name, from the provider table (the app passes its own table's).
_PROVIDER_NAMES: Final = {p.name: p.otel_name for p in BUILTIN}


def gateway_resource(environ: Mapping[str, str]) -> Resource:
    """`service.name` majordomo-gateway unless `OTEL_SERVICE_NAME` says otherwise; shared by spans and metrics."""
    return Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "majordomo-gateway"})


#: A span's status: its code, and the description an ERROR carries.
SpanStatus = tuple[StatusCode, str | None]
_UNSET: Final[SpanStatus] = (StatusCode.UNSET, None)
_UPSTREAM_FAILED: Final[SpanStatus] = (StatusCode.ERROR, None)


class SpanOutput(Protocol):
    """Where finished requests' spans go: `OtlpSpans` (the gateway's own encoder) or `SdkSpans`."""

    @property
    def stats(self) -> ExportStats: ...

    def emit(
        self, plan: SpanPlan, name: str, attributes: Mapping[str, Any], status: SpanStatus, upstream_status: SpanStatus
    ) -> None: ...

    def force_flush(self, timeout_s: float) -> bool: ...

    def shutdown(self) -> None: ...


def build_span_pipeline(
    *, exporter: SpanExporter | None = None, environ: Mapping[str, str] | None = None
) -> tuple[SpanOutput | None, ExportStats]:
    """The gateway's own export pipeline (never the global provider): `service.name` majordomo-gateway.

    Configured by the `OTEL_*` variables, spans are encoded by the gateway itself and posted as
    OTLP/HTTP or OTLP/gRPC (`otlp/`), for a sixth of the SDK exporters' CPU (bench/README.md). An
    `exporter` passed in by code gets SDK `ReadableSpan`s, as does a configuration only the SDK's
    exporters understand (a credential-provider plug-in). Either way export runs on its own thread
    behind a bounded queue, so a slow or dead collector drops spans, counted in `ExportStats`,
    but never delays a proxied request. No exporter configured: no output, and no span is built.
    """
    environ = os.environ if environ is None else environ
    resource = gateway_resource(environ)
    scope = InstrumentationScope("majordomo_otel.gateway", _version())
    limits = QueueLimits.from_env(environ)
    if exporter is None:
        if (target := traces_target(environ)) is not None:
            output: SpanOutput = OtlpSpans(target, resource, scope, limits)
            return output, output.stats
        exporter = span_exporter_from_env(environ)
        if exporter is None:
            return None, ExportStats()
    output = SdkSpans(exporter, resource, scope, limits)
    return output, output.stats


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


# (span attribute, record column): ours always, the standard ones only per `SpanUsagePolicy`.
_MAJORDOMO_USAGE: Final = (
    (sc.USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.USAGE_CACHE_READ_TOKENS, "cached_tokens"),
    (sc.USAGE_CACHE_WRITE_TOKENS, "cache_creation_tokens"),
    (sc.USAGE_REASONING_TOKENS, "reasoning_tokens"),
)
_STANDARD_USAGE: Final = (
    (sc.GEN_AI_USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "cached_tokens"),
    (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, "cache_creation_tokens"),
)

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


class GatewaySpans:
    """Renders each finished `RequestRecord` as a SERVER span and its upstream CLIENT child.

    The request is over when its spans are made, so they are rendered once, finished, and handed
    to the output (`SpanOutput`): no live span objects, no per-attribute validation on the hot
    path, and nothing at all when export is off (ids are still made, for the record).
    """

    def __init__(
        self,
        output: SpanOutput | None,
        policy: SpanUsagePolicy,
        provider_names: Mapping[str, str] = _PROVIDER_NAMES,
    ) -> None:
        self._provider_names = provider_names
        self._output = output
        self._policy = policy

    @property
    def exporting(self) -> bool:
        return self._output is not None

    def begin(self, headers: Mapping[str, str]) -> SpanPlan:
        return SpanPlan(parse_traceparent(headers.get("traceparent")), headers.get("tracestate"))

    def finish(self, plan: SpanPlan, record: RequestRecord) -> None:
        plan.end_ns = plan.now_ns()
        if self._output is None or not plan.sampled:
            return
        self._output.emit(
            plan,
            f"gateway {operation_name(record.operation)}",
            self.server_attributes(plan, record),
            _status(record),
            _UPSTREAM_FAILED if record.status_code in (502, 504) else _UNSET,
        )

    def server_attributes(self, plan: SpanPlan, record: RequestRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: operation_name(record.operation),
            sc.GEN_AI_PROVIDER_NAME: self._provider_names.get(record.provider, record.provider),
            sc.HTTP_REQUEST_METHOD: record.request_method,
            sc.URL_PATH: record.request_path,
            sc.PROVIDER: record.provider,
            **plan.server_attributes,
            sc.REQUEST_ID: record.id,
            sc.STREAMED: record.streamed,
            sc.USAGE_STATUS: record.usage_status,
            sc.COST_STATUS: record.pricing_status,
        }
        if record.request_model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = record.request_model
        if record.model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = record.model
        if record.status_code is not None:
            attrs[sc.HTTP_RESPONSE_STATUS_CODE] = record.status_code
        if record.time_to_first_token_ms is not None:
            attrs[sc.TIME_TO_FIRST_BYTE_MS] = record.time_to_first_token_ms
        if record.error_message:
            attrs[sc.ERROR] = record.error_message
        for attribute, column in _MAJORDOMO_USAGE:
            if (value := getattr(record, column)) is not None:
                attrs[attribute] = value
        if record.total_cost is not None:
            attrs[sc.COST_INPUT] = float(record.input_cost or 0)
            attrs[sc.COST_OUTPUT] = float(record.output_cost or 0)
            attrs[sc.COST_TOTAL] = float(record.total_cost)
        if self._policy is SpanUsagePolicy.ALWAYS or (self._policy is SpanUsagePolicy.AUTO and plan.parent is None):
            # Standard attributes only where nobody else reports them: no double counting.
            for attribute, column in _STANDARD_USAGE:
                if (value := getattr(record, column)) is not None:
                    attrs[attribute] = value
            if record.total_cost is not None:
                attrs[sc.OPERATION_COST] = float(record.total_cost)
        return attrs

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every span of a finished request exported (or failed) before this returns."""
        return self._output.force_flush(timeout_millis / 1000) if self._output is not None else True

    def shutdown(self) -> None:
        if self._output is not None:
            self._output.shutdown()


def _status(record: RequestRecord) -> SpanStatus:
    if record.status_code is not None and record.status_code >= 500:
        return (StatusCode.ERROR, record.error_message or f"HTTP {record.status_code}")
    if record.status_code == 499:
        return (StatusCode.ERROR, record.error_message or "client disconnected")
    return _UNSET


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("majordomo-otel")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "0"


def operation_name(operation: str) -> str:
    return _OPERATION_NAMES.get(operation, operation)
