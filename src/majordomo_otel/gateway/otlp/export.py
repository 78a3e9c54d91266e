"""The gateway's own span export: encode on the serving thread, queue the bytes, post batches from another."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from ..._otlp import TracesTarget
from .encode import SpanEncoder
from .grpc_sender import GrpcSender
from .http_sender import HttpSender
from .queue import ExportStats, QueueLimits, SpanQueue

if TYPE_CHECKING:
    from ..span_plan import SpanPlan, SpanStatus

log = logging.getLogger("majordomo_otel.gateway.spans")


class OtlpSpans:
    """A `SpanOutput` straight to an OTLP receiver (HTTP or gRPC), without SDK span objects."""

    def __init__(
        self, target: TracesTarget, resource: Resource, scope: InstrumentationScope, limits: QueueLimits
    ) -> None:
        self.target = target
        self._encoder = SpanEncoder(resource, scope)
        sender = GrpcSender if target.protocol == "grpc" else HttpSender
        self._sender = sender(target, f"majordomo-otel/{scope.version}")
        self._queue: SpanQueue[bytes] = SpanQueue(
            self._send, limits, name="majordomo-span-export", target=target.shown, interrupt=self._sender.abort
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
        spans = 2 if plan.upstream_start_ns else 1
        if self._queue.full():  # the collector is behind: do not even encode
            self._queue.drop(spans)
            return
        try:
            chunk = self._encoder.spans(plan, name, attributes, status, upstream_status)
        except Exception:  # never into the request path; a bug here shows as dropped spans
            log.exception("could not encode a request's spans")
            self._queue.drop(spans)
            return
        self._queue.put(chunk, spans, len(chunk))

    def _send(self, chunks: list[bytes]) -> int:
        return self._sender.send(self._encoder.request(chunks), self._queue.stopping)

    def force_flush(self, timeout_s: float) -> bool:
        return self._queue.force_flush(timeout_s)

    def shutdown(self) -> None:
        self._queue.shutdown()
        if not self._queue.running:  # else the export thread still holds the connection: leave it to exit
            self._sender.close()
