"""Copies the active tags onto every span as it starts (Pydantic AI's, HTTP client spans, the user's)."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .tags import Tags, get_tags


class MajordomoSpanProcessor(SpanProcessor):
    """`on_start` only: attributes set at start are visible to samplers' peers and every exporter.

    The rendering of the last `Tags` value is cached: one agent run starts many spans under the
    same `tags()` block, so the common case is one context lookup and one `set_attributes` call.
    """

    __slots__ = ("_enabled", "_last")

    def __init__(self) -> None:
        self._last: tuple[Tags, dict[str, str]] | None = None
        self._enabled = True

    def disable(self) -> None:
        """OTel cannot remove a processor from a provider; `uninstrument()` turns it off instead."""
        self._enabled = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        tags = get_tags(parent_context)
        if not tags or not self._enabled:
            return
        last = self._last
        if last is not None and last[0] is tags:
            attributes = last[1]
        else:
            attributes = tags.span_attributes()
            self._last = (tags, attributes)
        span.set_attributes(attributes)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
