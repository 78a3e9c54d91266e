"""The gateway's SERVER and CLIENT spans as OTLP protobuf bytes, and the export request around a batch of them.

Byte for byte what the SDK's encoder makes of the same `ReadableSpan`s (tests/gateway/test_otlp_encoding.py
decodes both and compares), without its per-span objects: resource and scope are encoded once, and a
request's two spans are one bytes object, ready to be joined into a batch. Attributes and the span's
framing are encoded by `_wire_native` (C, built at install when a compiler is there) or else by
`wire.SpanAttributes` (pure Python, its encodings cached); the two make the same bytes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import StatusCode, TraceState

from .wire import SpanAttributes, field, key_value, key_values, string_field, text, varint

native_span: Callable[..., bytes] | None
try:
    from ._wire_native import span as native_span
except ImportError:  # installed without a C compiler: the pure-Python encoder
    native_span = None

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

    __slots__ = ("_attributes", "_names", "_resource", "_scope", "_span")

    def __init__(self, resource: Resource, scope: InstrumentationScope, *, native: bool = True) -> None:
        scope_message = string_field(0x0A, scope.name) + string_field(0x12, scope.version or "")
        self._resource = field(0x0A, key_values(0x0A, resource.attributes))  # ResourceSpans.resource
        self._scope = field(0x0A, scope_message)  # ScopeSpans.scope
        self._attributes = SpanAttributes()
        self._names: dict[str, bytes] = {}
        self._span: Callable[..., bytes] = native_span if native and native_span is not None else self._python_span

    @property
    def native(self) -> bool:
        """Whether the C encoder is in use."""
        return self._span is native_span

    def spans(
        self,
        plan: SpanPlan,
        name: str,
        attributes: Mapping[str, Any],
        status: SpanStatus,
        upstream_status: SpanStatus,
    ) -> bytes:
        """A request's spans as `ScopeSpans.spans` fields: the upstream CLIENT span (if any), then the SERVER span."""
        span = self._span
        trace = b"\x0a\x10" + plan.trace_id.to_bytes(16, "big")
        state = string_field(0x1A, trace_state(plan.tracestate))
        if plan.parent is None:
            parent_id, flags = 0, _FLAGS_LOCAL
        else:
            parent_id, flags = plan.parent.span_id, _FLAGS_REMOTE
        server = span(
            trace,
            plan.span_id,
            state,
            parent_id,
            self._name(name),
            _SERVER,
            plan.start_ns,
            plan.end_ns,
            attributes if type(attributes) is dict else dict(attributes),
            _status(status) + flags,
            _SPAN_ATTRIBUTE,
        )
        if not plan.upstream_start_ns:
            return server
        client = span(
            trace,
            plan.upstream_span_id,
            state,
            plan.span_id,
            self._name(plan.upstream_name),
            _CLIENT,
            plan.upstream_start_ns,
            plan.upstream_end_ns or plan.end_ns,
            plan.upstream_attributes,
            _status(upstream_status) + _FLAGS_LOCAL,
            _SPAN_ATTRIBUTE,
        )
        return client + server

    def _python_span(
        self,
        trace: bytes,
        span_id: int,
        state: bytes,
        parent_id: int,
        name: bytes,
        kind: int,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, Any],
        tail: bytes,
        fallback: Callable[[str, Any], bytes],
    ) -> bytes:
        """What `_wire_native.span` writes: one `ScopeSpans.spans` field, its attributes cached per value."""
        parent = b"\x22\x08" + parent_id.to_bytes(8, "big") if parent_id else b""
        body = b"".join(
            (
                trace,
                b"\x12\x08",
                span_id.to_bytes(8, "big"),
                state,
                parent,
                name,
                _TIMES(0x30, kind, 0x39, start_ns, 0x41, end_ns),
                self._attributes.encode(attributes),
                tail,
            )
        )
        return b"\x12" + varint(len(body)) + body

    def _name(self, name: str) -> bytes:
        """A span's `name` field, memoised: few names recur (one per operation, one per upstream path), and
        hostile paths can neither grow the memo past its bounds nor make a long name stay in it."""
        encoded = self._names.get(name)
        if encoded is None:
            encoded = string_field(0x2A, name)
            if len(encoded) <= SpanAttributes.MAX_ENTRY_BYTES:
                if len(self._names) >= SpanAttributes.MAX_ENTRIES:
                    self._names.clear()
                self._names[name] = encoded
        return encoded

    def request(self, chunks: Sequence[bytes]) -> bytes:
        """An `ExportTraceServiceRequest` of one resource, one scope and every span in `chunks`."""
        scope_spans = self._scope + b"".join(chunks)
        resource_spans = self._resource + b"\x12" + varint(len(scope_spans)) + scope_spans
        return b"\x0a" + varint(len(resource_spans)) + resource_spans


#: What the C encoder hands back for a value it leaves to Python (nested, bytes, None, huge, invalid text).
_SPAN_ATTRIBUTE: Final = functools.partial(key_value, 0x4A)
