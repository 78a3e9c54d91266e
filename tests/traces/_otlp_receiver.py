"""A local OTLP/HTTP endpoint (aiohttp, port 0, its own thread): POST /v1/traces, protobuf decoded.

Both "processes" (the client subprocess and the in-process gateway) export here, so a test sees the
spans exactly as a collector would receive them, resource `service.name` included.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str  # hex, as Jaeger, Logfire and the `llm_requests` columns show it
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, ...
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    if field == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if field == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, field) if field else None


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=resource.get("service.name", ""),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=PbSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return spans


class OtlpReceiver:
    """Runs until `stop()`; `spans` holds every span received so far (thread-safe appends)."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otlp-receiver", daemon=True)
        self._runner: web.AppRunner | None = None

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Type") != "application/x-protobuf":
            return web.Response(status=415)
        self.spans.extend(decode(body))
        reply = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=reply, content_type="application/x-protobuf")

    async def _start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]

    def wait_for(self, trace_id: str, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """The trace's spans once `count` have arrived (exporters batch on their own schedule)."""
        deadline = time.monotonic() + timeout
        while len(spans := self.trace(trace_id)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return spans


def tree(spans: list[ReceivedSpan], label: Any = None) -> list[Any]:
    """The trace as nested `[label, [children...]]` from its roots, children in a stable order.

    `label(span)` defaults to `"<service>: <kind> <name>"`; siblings are ordered by label, so the
    shape compares as one value whatever the export order.
    """
    label = label or (lambda s: f"{s.service}: {s.kind} {s.name}")
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)

    def build(parent: str | None) -> list[Any]:
        nodes = [[label(s), build(s.span_id)] for s in children.get(parent, [])]
        return sorted(nodes, key=repr)

    return build(None)
