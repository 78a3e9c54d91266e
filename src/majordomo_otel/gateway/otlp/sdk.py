"""The SDK route, for a `SpanExporter` passed in by code (tests' in-memory exporter, the demo's tee):
finished `ReadableSpan`s through the same bounded queue, so drops and failures are counted alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, TraceFlags, TraceState

from .queue import ExportError, ExportStats, QueueLimits, SpanQueue

if TYPE_CHECKING:
    from ..span_plan import SpanPlan, SpanStatus

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class SdkSpans:
    """A `SpanOutput` that builds the request's spans as finished `ReadableSpan`s for `exporter`.

    Its queue bounds spans by count only (their size in bytes is not known without encoding them).
    """

    def __init__(
        self, exporter: SpanExporter, resource: Resource, scope: InstrumentationScope, limits: QueueLimits
    ) -> None:
        self._exporter = exporter
        self._resource = resource
        self._scope = scope
        self._queue: SpanQueue[tuple[ReadableSpan, ...]] = SpanQueue(
            self._send, limits, name="majordomo-span-export", target=type(exporter).__name__
        )

    @property
    def stats(self) -> ExportStats:
        return self._queue.stats

    def emit(
        self,
        plan: SpanPlan,
        name: str,
        attributes: Mapping[str, Any],
        status: SpanStatus,
        upstream_status: SpanStatus,
    ) -> None:
        state = TraceState.from_header([plan.tracestate]) if plan.tracestate else None
        server_ctx = SpanContext(plan.trace_id, plan.span_id, False, _SAMPLED, state)
        server = ReadableSpan(
            name=name,
            context=server_ctx,
            parent=plan.parent,
            resource=self._resource,
            attributes=attributes,
            kind=SpanKind.SERVER,
            status=Status(*status),
            start_time=plan.start_ns,
            end_time=plan.end_ns,
            instrumentation_scope=self._scope,
        )
        if not plan.upstream_start_ns:
            self._queue.put((server,), 1)
            return
        upstream = ReadableSpan(
            name=plan.upstream_name,
            context=SpanContext(plan.trace_id, plan.upstream_span_id, False, _SAMPLED, state),
            parent=server_ctx,
            resource=self._resource,
            attributes=plan.upstream_attributes,
            kind=SpanKind.CLIENT,
            status=Status(*upstream_status),
            start_time=plan.upstream_start_ns,
            end_time=plan.upstream_end_ns or plan.end_ns,
            instrumentation_scope=self._scope,
        )
        self._queue.put((upstream, server), 2)

    def _send(self, items: list[tuple[ReadableSpan, ...]]) -> int:
        spans = [span for item in items for span in item]
        if self._exporter.export(spans) is not SpanExportResult.SUCCESS:
            raise ExportError(f"{type(self._exporter).__name__} returned FAILURE")
        return 0

    def force_flush(self, timeout_s: float) -> bool:
        return self._queue.force_flush(timeout_s) and self._exporter.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        self._queue.shutdown()
        self._exporter.shutdown()
