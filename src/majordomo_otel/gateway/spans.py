"""The gateway's spans: one SERVER span per request, a CLIENT child for the upstream call.

The SERVER span is a child of the caller's `traceparent`, so the gateway's work shows up inside the
agent's own trace, and its ids go on the record so SQL rows and spans join on `trace_id`. Both are
rendered from the same `RequestRecord` as the SQL row, so they cannot disagree.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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
_PROVIDER_NAMES: Final = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "gemini-openai": "gcp.gemini",
}
_TRACECONTEXT: Final = TraceContextTextMapPropagator()


class _HeaderGetter:
    """Getter over aiohttp's case-insensitive headers."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if value is not None else None

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


_GETTER: Final = _HeaderGetter()


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


def _exporter_from_env(environ: Mapping[str, str]) -> SpanExporter | None:
    """OTLP exporter per the standard `OTEL_*` variables; None when no endpoint is configured."""
    if not (environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None
    if environ.get("OTEL_TRACES_EXPORTER", "otlp") == "none":
        return None
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def build_tracer_provider(
    *, exporter: SpanExporter | None = None, environ: Mapping[str, str] | None = None
) -> tuple[TracerProvider, ExportStats]:
    """The gateway's own provider (never the global one): `service.name` majordomo-gateway by default.

    Export goes through a `BatchSpanProcessor` (its own thread, bounded queue), so a slow or dead
    collector can drop spans but never delays a proxied request.
    """
    environ = os.environ if environ is None else environ
    attributes = {"service.name": environ.get("OTEL_SERVICE_NAME") or "majordomo-gateway"}
    provider = TracerProvider(resource=Resource.create(attributes))
    stats = ExportStats()
    exporter = exporter if exporter is not None else _exporter_from_env(environ)
    if exporter is not None:
        batch = BatchSpanProcessor(_CountingExporter(exporter, stats))
        provider.add_span_processor(_CountingProcessor(batch, stats))
    return provider, stats


class GatewaySpans:
    """Starts and ends the per-request spans and renders a record onto them."""

    def __init__(self, provider: TracerProvider, policy: SpanUsagePolicy) -> None:
        self._tracer = provider.get_tracer("majordomo_otel.gateway")
        self._policy = policy

    @staticmethod
    def extract(headers: Mapping[str, str]) -> Context | None:
        """The caller's trace context, or None when it sent none (the gateway span is then a root)."""
        if "traceparent" not in headers:
            return None
        ctx = _TRACECONTEXT.extract(headers, getter=_GETTER)  # type: ignore[arg-type]
        return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None

    def start_server(self, name: str, parent: Context | None, attributes: dict[str, Any]) -> trace.Span:
        # An explicit empty Context makes a root span even if some ambient context is active.
        return self._tracer.start_span(name, context=parent or Context(), kind=SpanKind.SERVER, attributes=attributes)

    def start_upstream(self, server: trace.Span, name: str, attributes: dict[str, Any]) -> trace.Span:
        ctx = trace.set_span_in_context(server)
        return self._tracer.start_span(name, context=ctx, kind=SpanKind.CLIENT, attributes=attributes)

    @staticmethod
    def inject(span: trace.Span, carrier: dict[str, str] | Any) -> None:
        _TRACECONTEXT.inject(carrier, context=trace.set_span_in_context(span))

    def finish(self, span: trace.Span, record: RequestRecord, *, had_parent: bool) -> None:
        """Render the record onto the SERVER span and end it."""
        attrs: dict[str, Any] = {
            "majordomo.request_id": record.id,
            "majordomo.streamed": record.streamed,
            "majordomo.usage.status": record.usage_status,
            "majordomo.cost.status": record.pricing_status,
        }
        if record.model:
            attrs["gen_ai.response.model"] = record.model
        if record.status_code is not None:
            attrs["http.response.status_code"] = record.status_code
        if record.time_to_first_token_ms is not None:
            attrs["majordomo.time_to_first_byte_ms"] = record.time_to_first_token_ms
        usage = {
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cache_read_tokens": record.cached_tokens,
            "cache_write_tokens": record.cache_creation_tokens,
            "reasoning_tokens": record.reasoning_tokens,
        }
        for key, value in usage.items():
            if value is not None:
                attrs[f"majordomo.usage.{key}"] = value
        if record.total_cost is not None:
            attrs["majordomo.cost.input"] = float(record.input_cost or 0)
            attrs["majordomo.cost.output"] = float(record.output_cost or 0)
            attrs["majordomo.cost.total"] = float(record.total_cost)
        if self._policy is SpanUsagePolicy.ALWAYS or (self._policy is SpanUsagePolicy.AUTO and not had_parent):
            # Standard attributes only where nobody else reports them: no double counting.
            if record.input_tokens is not None:
                attrs["gen_ai.usage.input_tokens"] = record.input_tokens
            if record.output_tokens is not None:
                attrs["gen_ai.usage.output_tokens"] = record.output_tokens
            if record.cached_tokens is not None:
                attrs["gen_ai.usage.cache_read.input_tokens"] = record.cached_tokens
            if record.cache_creation_tokens is not None:
                attrs["gen_ai.usage.cache_creation.input_tokens"] = record.cache_creation_tokens
            if record.total_cost is not None:
                attrs["operation.cost"] = float(record.total_cost)
        span.set_attributes(attrs)
        if record.status_code is not None and record.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR, record.error_message or f"HTTP {record.status_code}"))
        elif record.error_message and record.status_code in (None, 499):
            span.set_status(Status(StatusCode.ERROR, record.error_message))
        span.end()


def operation_name(operation: str) -> str:
    return _OPERATION_NAMES.get(operation, operation)


def provider_name(provider: str) -> str:
    return _PROVIDER_NAMES.get(provider, provider)
