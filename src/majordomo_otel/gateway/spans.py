"""The gateway's spans: one SERVER span per request, a CLIENT child for the upstream call.

The SERVER span is a child of the caller's `traceparent`, so the gateway's work shows up inside the
agent's own trace, and its ids go on the record so SQL rows and spans join on `trace_id`. Both are
rendered from the same `RequestRecord` as the SQL row, so they cannot disagree.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from .._otlp import span_exporter_from_env
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


class ExportStats:
    """Counts spans through the exporter, so a slow or dead collector is visible (`/readyz`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ended = 0
        self.exported = 0
        self.failed = 0

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            pending = self.ended - self.exported - self.failed
            return {
                "ended": self.ended,
                "exported": self.exported,
                "failed": self.failed,
                # spans neither exported nor failed: still queued, or dropped by a full queue
                "pending_or_dropped": max(pending, 0),
            }


class _CountingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, stats: ExportStats) -> None:
        self._inner = inner
        self._stats = stats

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        with self._stats._lock:
            if result is SpanExportResult.SUCCESS:
                self._stats.exported += len(spans)
            else:
                self._stats.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _CountingProcessor(SpanProcessor):
    def __init__(self, inner: SpanProcessor, stats: ExportStats) -> None:
        self._inner = inner
        self._stats = stats

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        with self._stats._lock:
            self._stats.ended += 1
        self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def gateway_resource(environ: Mapping[str, str]) -> Resource:
    """`service.name` majordomo-gateway unless `OTEL_SERVICE_NAME` says otherwise; shared by spans and metrics."""
    return Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "majordomo-gateway"})


def build_span_pipeline(
    *, exporter: SpanExporter | None = None, environ: Mapping[str, str] | None = None
) -> tuple[SpanProcessor | None, Resource, ExportStats]:
    """The gateway's own export pipeline (never the global provider): `service.name` majordomo-gateway.

    Export goes through a `BatchSpanProcessor` (its own thread, bounded queue), so a slow or dead
    collector can drop spans, counted in `ExportStats`, but never delays a proxied request.
    No exporter configured: no processor, and no span is built at all.
    """
    environ = os.environ if environ is None else environ
    resource = gateway_resource(environ)
    stats = ExportStats()
    exporter = exporter if exporter is not None else span_exporter_from_env(environ)
    if exporter is None:
        return None, resource, stats
    processor = _CountingProcessor(BatchSpanProcessor(_CountingExporter(exporter, stats)), stats)
    return processor, resource, stats


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
    ("majordomo.usage.input_tokens", "input_tokens"),
    ("majordomo.usage.output_tokens", "output_tokens"),
    ("majordomo.usage.cache_read_tokens", "cached_tokens"),
    ("majordomo.usage.cache_write_tokens", "cache_creation_tokens"),
    ("majordomo.usage.reasoning_tokens", "reasoning_tokens"),
)
_STANDARD_USAGE: Final = (
    ("gen_ai.usage.input_tokens", "input_tokens"),
    ("gen_ai.usage.output_tokens", "output_tokens"),
    ("gen_ai.usage.cache_read.input_tokens", "cached_tokens"),
    ("gen_ai.usage.cache_creation.input_tokens", "cache_creation_tokens"),
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

    The request is over when its spans are made, so they are built as finished `ReadableSpan`s and
    handed straight to the export pipeline: no live span objects, no per-attribute validation on
    the hot path, and nothing at all when export is off (ids are still made, for the record).
    """

    def __init__(
        self,
        processor: SpanProcessor | None,
        resource: Resource,
        policy: SpanUsagePolicy,
        provider_names: Mapping[str, str] = _PROVIDER_NAMES,
    ) -> None:
        self._provider_names = provider_names
        self._processor = processor
        self._resource = resource
        self._policy = policy
        self._scope = InstrumentationScope("majordomo_otel.gateway", _version())

    @property
    def exporting(self) -> bool:
        return self._processor is not None

    def begin(self, headers: Mapping[str, str]) -> SpanPlan:
        return SpanPlan(parse_traceparent(headers.get("traceparent")), headers.get("tracestate"))

    def finish(self, plan: SpanPlan, record: RequestRecord) -> None:
        plan.end_ns = plan.now_ns()
        if self._processor is None or not plan.sampled:
            return
        state = TraceState.from_header([plan.tracestate]) if plan.tracestate else None
        flags = TraceFlags(TraceFlags.SAMPLED)
        server_ctx = SpanContext(plan.trace_id, plan.span_id, False, flags, state)
        server = ReadableSpan(
            name=f"gateway {operation_name(record.operation)}",
            context=server_ctx,
            parent=plan.parent,
            resource=self._resource,
            attributes=self.server_attributes(plan, record),
            kind=SpanKind.SERVER,
            status=_status(record),
            start_time=plan.start_ns,
            end_time=plan.end_ns,
            instrumentation_scope=self._scope,
        )
        if plan.upstream_start_ns:
            upstream = ReadableSpan(
                name=plan.upstream_name,
                context=SpanContext(plan.trace_id, plan.upstream_span_id, False, flags, state),
                parent=server_ctx,
                resource=self._resource,
                attributes=plan.upstream_attributes,
                kind=SpanKind.CLIENT,
                status=Status(StatusCode.ERROR) if record.status_code in (502, 504) else Status(StatusCode.UNSET),
                start_time=plan.upstream_start_ns,
                end_time=plan.upstream_end_ns or plan.end_ns,
                instrumentation_scope=self._scope,
            )
            self._processor.on_end(upstream)
        self._processor.on_end(server)

    def server_attributes(self, plan: SpanPlan, record: RequestRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation_name(record.operation),
            "gen_ai.provider.name": self._provider_names.get(record.provider, record.provider),
            "http.request.method": record.request_method,
            "url.path": record.request_path,
            "majordomo.provider": record.provider,
            **plan.server_attributes,
            "majordomo.request_id": record.id,
            "majordomo.streamed": record.streamed,
            "majordomo.usage.status": record.usage_status,
            "majordomo.cost.status": record.pricing_status,
        }
        if record.request_model:
            attrs["gen_ai.request.model"] = record.request_model
        if record.model:
            attrs["gen_ai.response.model"] = record.model
        if record.status_code is not None:
            attrs["http.response.status_code"] = record.status_code
        if record.time_to_first_token_ms is not None:
            attrs["majordomo.time_to_first_byte_ms"] = record.time_to_first_token_ms
        if record.error_message:
            attrs["majordomo.error"] = record.error_message
        for attribute, column in _MAJORDOMO_USAGE:
            if (value := getattr(record, column)) is not None:
                attrs[attribute] = value
        if record.total_cost is not None:
            attrs["majordomo.cost.input"] = float(record.input_cost or 0)
            attrs["majordomo.cost.output"] = float(record.output_cost or 0)
            attrs["majordomo.cost.total"] = float(record.total_cost)
        if self._policy is SpanUsagePolicy.ALWAYS or (self._policy is SpanUsagePolicy.AUTO and plan.parent is None):
            # Standard attributes only where nobody else reports them: no double counting.
            for attribute, column in _STANDARD_USAGE:
                if (value := getattr(record, column)) is not None:
                    attrs[attribute] = value
            if record.total_cost is not None:
                attrs["operation.cost"] = float(record.total_cost)
        return attrs

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.force_flush(timeout_millis) if self._processor is not None else True

    def shutdown(self) -> None:
        if self._processor is not None:
            self._processor.shutdown()


def _status(record: RequestRecord) -> Status:
    if record.status_code is not None and record.status_code >= 500:
        return Status(StatusCode.ERROR, record.error_message or f"HTTP {record.status_code}")
    if record.status_code == 499:
        return Status(StatusCode.ERROR, record.error_message or "client disconnected")
    return Status(StatusCode.UNSET)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("majordomo-otel")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "0"


def operation_name(operation: str) -> str:
    return _OPERATION_NAMES.get(operation, operation)
