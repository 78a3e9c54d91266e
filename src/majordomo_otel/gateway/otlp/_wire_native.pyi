"""Type stub of the C span encoder (`_wire_native.c`), built at install when a C compiler is there."""

from collections.abc import Callable
from typing import Any

def span(
    trace: bytes,
    span_id: int,
    state: bytes,
    parent_id: int,
    name: bytes,
    kind: int,
    start_ns: int,
    end_ns: int,
    attributes: dict[str, Any],
    tail: bytes,
    fallback: Callable[[str, Any], bytes],
    /,
) -> bytes:
    """The `ScopeSpans.spans` field of one Span (field order as the SDK's encoder writes them)."""
