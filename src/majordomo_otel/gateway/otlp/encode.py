"""The gateway's SERVER and CLIENT spans as OTLP protobuf bytes, and the export request around a batch of them.

Byte for byte what the SDK's encoder makes of the same `ReadableSpan`s (tests/gateway/test_otlp_encoding.py
decodes both and compares), without its per-span objects: resource and scope are encoded once,
attribute encodings are cached (`wire.SpanAttributes`), and a request's two spans are one bytes
object, ready to be joined into a batch.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import StatusCode, TraceState

from .wire import SpanAttributes, field, key_values, string_field, text, varint

if TYPE_CHECKING:
    from ..span_plan import SpanPlan, SpanStatus

_SERVER: Final = 2  # Span.SpanKind
_CLIENT: Final = 3
#: kind (field 6, varint), start_time_unix_nano (7, fixed64), end_time_unix_nano (8, fixed64), tags included
_TIMES: Final = struct.Struct("<BBBQBQ").pack
#: flags (field 16, fixed32): SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, with IS_REMOTE when the parent is the caller's
_FLAGS_LOCAL: Final = b"\x85\x01" + struct.pack("<I", 0x100)
_FLAGS_REMOTE: Final = b"\x85\x01" + struct.pack("<I", 0x300)
_NO_STATUS: Final = b"\x7a\x00"  # Status {} (UNSET): the SDK's encoder always writes one


def _status(status: SpanStatus) -> bytes:
    code, message = status
    if code is StatusCode.UNSET:
        return _NO_STATUS
    inner = (field(0x12, text(message)) if message else b"") + b"\x18" + varint(code.value)
    return field(0x7A, inner)


def trace_state(header: str | None) -> str:
    """`tracestate` as the SDK keeps it (invalid members dropped) and writes it (`k=v,k=v`)."""
    if not header:
        return ""
    return ",".join(f"{k}={v}" for k, v in TraceState.from_header([header]).items())


class SpanEncoder:
    """Encodes finished requests' spans; used from the serving thread only (its caches are not locked)."""

    __slots__ = ("_attributes", "_names", "_resource", "_scope")

    def __init__(self, resource: Resource, scope: InstrumentationScope) -> None:
        scope_message = string_field(0x0A, scope.name) + string_field(0x12, scope.version or "")
        self._resource = field(0x0A, key_values(0x0A, resource.attributes))  # ResourceSpans.resource
        self._scope = field(0x0A, scope_message)  # ScopeSpans.scope
        self._attributes = SpanAttributes()
        self._names: dict[str, bytes] = {}

    def spans(
        self,
        plan: SpanPlan,
        name: str,
        attributes: Mapping[str, Any],
        status: SpanStatus,
        upstream_status: SpanStatus,
    ) -> bytes:
        """A request's spans as `ScopeSpans.spans` fields: the upstream CLIENT span (if any), then the SERVER span."""
        trace = b"\x0a\x10" + plan.trace_id.to_bytes(16, "big")
        state = string_field(0x1A, trace_state(plan.tracestate))
        server_id = plan.span_id.to_bytes(8, "big")
        if plan.parent is None:
            parent, flags = b"", _FLAGS_LOCAL
        else:
            parent, flags = b"\x22\x08" + plan.parent.span_id.to_bytes(8, "big"), _FLAGS_REMOTE
        server = self._span(
            trace + b"\x12\x08" + server_id + state + parent,
            self._name(name),
            _TIMES(0x30, _SERVER, 0x39, plan.start_ns, 0x41, plan.end_ns),
            self._attributes.encode(attributes),
            _status(status),
            flags,
        )
        if not plan.upstream_start_ns:
            return server
        client = self._span(
            trace + b"\x12\x08" + plan.upstream_span_id.to_bytes(8, "big") + state + b"\x22\x08" + server_id,
            string_field(0x2A, plan.upstream_name),
            _TIMES(0x30, _CLIENT, 0x39, plan.upstream_start_ns, 0x41, plan.upstream_end_ns or plan.end_ns),
            self._attributes.encode(plan.upstream_attributes),
            _status(upstream_status),
            _FLAGS_LOCAL,
        )
        return client + server

    @staticmethod
    def _span(ids: bytes, name: bytes, times: bytes, attributes: bytes, status: bytes, flags: bytes) -> bytes:
        body = b"".join((ids, name, times, attributes, status, flags))
        return b"\x12" + varint(len(body)) + body  # ScopeSpans.spans

    def _name(self, name: str) -> bytes:
        encoded = self._names.get(name)
        if encoded is None:
            if len(self._names) >= SpanAttributes.MAX_ENTRIES:
                self._names.clear()
            encoded = self._names[name] = string_field(0x2A, name)
        return encoded

    def request(self, chunks: Sequence[bytes]) -> bytes:
        """An `ExportTraceServiceRequest` of one resource, one scope and every span in `chunks`."""
        scope_spans = self._scope + b"".join(chunks)
        resource_spans = self._resource + b"\x12" + varint(len(scope_spans)) + scope_spans
        return b"\x0a" + varint(len(resource_spans)) + resource_spans
