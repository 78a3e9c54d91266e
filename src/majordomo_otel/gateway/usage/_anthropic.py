"""Anthropic Messages (`/v1/messages`), JSON and SSE.

Anthropic's `input_tokens` excludes cache reads and writes; our `input_tokens` adds them back
(input + cache_read + cache_creation), as genai-prices and Pydantic AI do. Thinking is inside
`output_tokens`.
"""

from __future__ import annotations

from typing import Any

from ._base import (
    JsonReader,
    SSEReader,
    add_counts,
    as_count,
    dig,
    missing,
    model_of,
    provider_error,
    result_from_usage,
)
from ._types import Usage, UsageResult, UsageStatus


def anthropic_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    cache_write = as_count(raw.get("cache_creation_input_tokens"))
    cache_read = as_count(raw.get("cache_read_input_tokens"))
    write_1h = as_count(dig(raw, "cache_creation", "ephemeral_1h_input_tokens"))
    if write_1h is not None and cache_write is not None:
        # A stale split can outlive its total in streams (Pydantic AI caps it the same way).
        write_1h = min(write_1h, cache_write)
    return Usage(
        input_tokens=add_counts(as_count(raw.get("input_tokens")), cache_write, cache_read),
        output_tokens=as_count(raw.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=as_count(dig(raw, "output_tokens_details", "thinking_tokens")),
    )


def messages_body_result(body: Any, complete: bool) -> UsageResult:
    model = model_of(dig(body, "model"))
    raw = dig(body, "usage")
    if raw is None and (error := provider_error(body)):
        return missing(model, error)
    return result_from_usage(anthropic_usage(raw), model, complete)


class MessagesJsonReader(JsonReader):
    __slots__ = ()

    def _extract(self, body: Any, complete: bool) -> UsageResult:
        return messages_body_result(body, complete)


class MessagesStreamReader(SSEReader):
    """Parses only `message_start` (input, cache, model), `message_delta` (cumulative output) and
    `error` events. Later values replace earlier ones key by key, as Pydantic AI merges them."""

    TERMINAL = b"event: message_stop"

    __slots__ = ("_delta_seen", "_model", "_raw")

    def __init__(self, content_encoding: str | None) -> None:
        super().__init__(content_encoding)
        self._raw: dict[str, Any] | None = None
        self._model: str | None = None
        self._delta_seen = False

    def _on_event(self, event: bytes) -> None:
        head = event[:48]
        if b"message_delta" in head:
            body = self.parse_event(event)
            if dig(body, "type") == "message_delta":
                self._delta_seen = True
                self._merge(dig(body, "usage"))
        elif b"message_start" in head:
            body = self.parse_event(event)
            if dig(body, "type") == "message_start":
                message = dig(body, "message")
                self._model = model_of(dig(message, "model"))
                self._merge(dig(message, "usage"))
        elif b"error" in head:
            body = self.parse_event(event)
            if error := provider_error(body):
                self._error = error

    def _merge(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        update = {k: v for k, v in usage.items() if v is not None}
        self._raw = {**self._raw, **update} if self._raw else update

    def _stream_result(self, complete: bool) -> UsageResult:
        if self._error and self._raw is None:
            return missing(self._model, self._error)
        result = result_from_usage(anthropic_usage(self._raw), self._model, complete)
        if result.usage.reported and not self._delta_seen:
            # message_start's output count is a placeholder: without a message_delta it is not final.
            result.status = UsageStatus.PARTIAL
            result.error = "stream ended without message_delta: output_tokens is message_start's placeholder"
        if self._error and result.error is None:
            result.error = self._error
        return result

    def _from_json_body(self, body: Any, complete: bool) -> UsageResult:
        return messages_body_result(body, complete)
