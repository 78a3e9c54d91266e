"""OpenAI-shaped APIs: chat completions (also Gemini's OpenAI-compatible endpoint), legacy
completions, embeddings, and the Responses API.

OpenAI's counts already follow our convention: `prompt_tokens` / `input_tokens` include cached
tokens (and cache writes), `completion_tokens` / `output_tokens` include reasoning.
"""

from __future__ import annotations

from typing import Any

from ._base import (
    JsonReader,
    SSEReader,
    as_count,
    dig,
    has_object,
    missing,
    model_of,
    provider_error,
    result_from_usage,
)
from ._sse import event_data
from ._types import Usage, UsageResult

_DONE = b"[DONE]"
_NO_STREAM_USAGE = "no usage in stream (request without stream_options.include_usage)"


def chat_usage(raw: Any) -> Usage | None:
    """Chat / completions / embeddings `usage` → Usage (embeddings report no output)."""
    if not isinstance(raw, dict):
        return None
    prompt_details = raw.get("prompt_tokens_details")
    completion_details = raw.get("completion_tokens_details")
    return Usage(
        input_tokens=as_count(raw.get("prompt_tokens")),
        output_tokens=as_count(raw.get("completion_tokens")),
        cache_read_tokens=as_count(dig(prompt_details, "cached_tokens")),
        cache_write_tokens=as_count(dig(prompt_details, "cache_write_tokens")),
        reasoning_tokens=as_count(dig(completion_details, "reasoning_tokens")),
    )


def responses_usage(raw: Any) -> Usage | None:
    """Responses API `usage` → Usage."""
    if not isinstance(raw, dict):
        return None
    input_details = raw.get("input_tokens_details")
    return Usage(
        input_tokens=as_count(raw.get("input_tokens")),
        output_tokens=as_count(raw.get("output_tokens")),
        cache_read_tokens=as_count(dig(input_details, "cached_tokens")),
        cache_write_tokens=as_count(dig(input_details, "cache_write_tokens")),
        reasoning_tokens=as_count(dig(raw.get("output_tokens_details"), "reasoning_tokens")),
    )


def unreported_thinking_note(raw: Any) -> str | None:
    """Gemini's OpenAI-compatible endpoint counts thinking only in `total_tokens`: say so.

    We keep `completion_tokens` as reported (as Pydantic AI does), so the gap is not priced.
    """
    total = as_count(dig(raw, "total_tokens"))
    prompt = as_count(dig(raw, "prompt_tokens"))
    completion = as_count(dig(raw, "completion_tokens"))
    if total is None or prompt is None or completion is None or total <= prompt + completion:
        return None
    return (
        f"note: total_tokens {total} exceeds prompt_tokens + completion_tokens {prompt + completion}: "
        f"{total - prompt - completion} tokens (thinking) not reported as output, not priced"
    )


def chat_body_result(body: Any, complete: bool, *, gemini: bool) -> UsageResult:
    model = model_of(dig(body, "model"))
    raw = dig(body, "usage")
    if raw is None and (error := provider_error(body)):
        return missing(model, error)
    note = unreported_thinking_note(raw) if gemini else None
    return result_from_usage(chat_usage(raw), model, complete, note=note)


def responses_body_result(body: Any, complete: bool) -> UsageResult:
    model = model_of(dig(body, "model"))
    raw = dig(body, "usage")
    if raw is None and (error := provider_error(body) or _failed_response_error(body)):
        return missing(model, error)
    return result_from_usage(responses_usage(raw), model, complete)


class ChatJsonReader(JsonReader):
    """Non-stream chat completions, legacy completions and embeddings."""

    __slots__ = ("_gemini",)

    def __init__(self, content_encoding: str | None, *, gemini: bool = False) -> None:
        super().__init__(content_encoding)
        self._gemini = gemini

    def _extract(self, body: Any, complete: bool) -> UsageResult:
        return chat_body_result(body, complete, gemini=self._gemini)


class ChatStreamReader(SSEReader):
    """Streamed chat / legacy completions: only a chunk with a `"usage": {...}` object is parsed
    (plus the first chunk, for the model). Usage exists only if the request set
    `stream_options.include_usage`."""

    TERMINAL = b"data: " + _DONE

    __slots__ = ("_gemini", "_model", "_raw_usage")

    def __init__(self, content_encoding: str | None, *, gemini: bool = False) -> None:
        super().__init__(content_encoding)
        self._gemini = gemini
        self._model: str | None = None
        self._raw_usage: Any = None

    def _on_event(self, event: bytes) -> None:
        first = self._events == 1
        if has_object(event, b'"usage"'):
            chunk = self.parse_event(event)
            self._raw_usage = dig(chunk, "usage")
            self._model = model_of(dig(chunk, "model")) or self._model
        elif first or b'"error"' in event:
            data = event_data(event)
            if data is None or data.strip() == _DONE:
                return
            chunk = self.parse_event(event)
            if first:
                self._model = model_of(dig(chunk, "model"))
            if error := provider_error(chunk):
                self._error = error

    def _stream_result(self, complete: bool) -> UsageResult:
        if self._raw_usage is None:
            if self._error:
                return missing(self._model, self._error)
            if complete:
                return missing(self._model, _NO_STREAM_USAGE)
        note = unreported_thinking_note(self._raw_usage) if self._gemini else None
        return result_from_usage(chat_usage(self._raw_usage), self._model, complete, note=note)

    def _from_json_body(self, body: Any, complete: bool) -> UsageResult:
        return chat_body_result(body, complete, gemini=self._gemini)


class ResponsesJsonReader(JsonReader):
    __slots__ = ()

    def _extract(self, body: Any, complete: bool) -> UsageResult:
        return responses_body_result(body, complete)


_TERMINAL = (b"response.completed", b"response.incomplete", b"response.failed")


class ResponsesStreamReader(SSEReader):
    """Streamed Responses API: parses the first event (model) and the terminal
    `response.completed` / `response.incomplete` / `response.failed` event (usage), plus errors."""

    TERMINAL = b"event: response.completed"

    __slots__ = ("_model", "_raw_usage", "_terminal")

    def __init__(self, content_encoding: str | None) -> None:
        super().__init__(content_encoding)
        self._model: str | None = None
        self._raw_usage: Any = None
        self._terminal = False

    def _on_event(self, event: bytes) -> None:
        head = event[:120]
        terminal = any(t in head for t in _TERMINAL)
        if not (terminal or self._events == 1 or b"error" in head):
            return
        if (data := event_data(event)) is None or data.strip() == _DONE:
            return
        body = self.parse_event(event)
        kind = dig(body, "type")
        response = dig(body, "response")
        self._model = model_of(dig(response, "model")) or self._model
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self._terminal = True
            self._raw_usage = dig(response, "usage")
            if self._raw_usage is None:
                self._error = _failed_response_error(response) or f"{kind} without usage"
        elif kind == "error" or provider_error(body):
            self._error = provider_error(body) or f"stream error: {dig(body, 'message')}"

    def _stream_result(self, complete: bool) -> UsageResult:
        if self._raw_usage is None and self._error:
            return missing(self._model, self._error)
        # Usage comes only with the terminal event: without it the stream did not really finish.
        return result_from_usage(responses_usage(self._raw_usage), self._model, complete and self._terminal)

    def _from_json_body(self, body: Any, complete: bool) -> UsageResult:
        return responses_body_result(body, complete)


def _failed_response_error(response: Any) -> str | None:
    error = dig(response, "error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"response failed ({error.get('code')}): {error['message']}"
    return None
