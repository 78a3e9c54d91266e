"""Gemini native API: generateContent (JSON) and streamGenerateContent, either as SSE (`?alt=sse`)
or as one JSON array of chunks.

Each streamed `usageMetadata` is a cumulative snapshot, so only the last one counts: the stream
reader keeps the raw bytes of the last event that carries one and parses just that at the end.
Gemini reports thinking (`thoughtsTokenCount`) beside `candidatesTokenCount`; both are billed
output, so our `output_tokens` is their sum. `toolUsePromptTokenCount` is input, as in genai-prices.
"""

from __future__ import annotations

import json
from typing import Any

from ._base import (
    JsonReader,
    SSEReader,
    add_counts,
    as_count,
    dig,
    loads,
    missing,
    model_of,
    provider_error,
    result_from_usage,
    unparseable,
)
from ._types import Usage, UsageResult


def _modality_count(details: Any, modality: str) -> int | None:
    """The count of the first `{"modality": ..., "tokenCount": n}` entry for `modality`, as
    genai-prices' Google extractor (which Pydantic AI uses) reads `*TokensDetails`."""
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, dict) and isinstance(m := item.get("modality"), str) and m.upper() == modality:
            return as_count(item.get("tokenCount"))
    return None


def gemini_usage(meta: Any) -> Usage | None:
    if not isinstance(meta, dict):
        return None
    thoughts = as_count(meta.get("thoughtsTokenCount"))
    input_audio = add_counts(
        _modality_count(meta.get("promptTokensDetails"), "AUDIO"),
        _modality_count(meta.get("toolUsePromptTokensDetails"), "AUDIO"),
    )
    cache_details = meta.get("cacheTokensDetails")
    cache_audio = _modality_count(cache_details, "AUDIO")
    if cache_audio is None and input_audio and isinstance(cache_details, list):
        # The cache's modalities are listed and audio is not among them: none of it was cached.
        # (genai-prices refuses to price cached tokens beside audio input without this count.)
        cache_audio = 0
    return Usage(
        input_tokens=add_counts(as_count(meta.get("promptTokenCount")), as_count(meta.get("toolUsePromptTokenCount"))),
        output_tokens=add_counts(as_count(meta.get("candidatesTokenCount")), thoughts),
        cache_read_tokens=as_count(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        # Audio is priced above text by some models; tool-use prompt audio is input audio too.
        input_audio_tokens=input_audio,
        cache_audio_read_tokens=cache_audio,
        output_audio_tokens=_modality_count(meta.get("candidatesTokensDetails"), "AUDIO"),
    )


def _chunks_result(chunks: list[Any], complete: bool) -> UsageResult:
    """The result of a response (one chunk) or a stream of chunks: the last usage snapshot wins."""
    model: str | None = None
    meta: Any = None
    error: str | None = None
    for chunk in chunks:
        model = model_of(dig(chunk, "modelVersion")) or model
        if (m := dig(chunk, "usageMetadata")) is not None:
            meta = m
        error = provider_error(chunk) or error
    if meta is None and error:
        return missing(model, error)
    return result_from_usage(gemini_usage(meta), model, complete)


def _salvage_array(text: str) -> list[Any]:
    """The complete elements at the start of a cut-off JSON array."""
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos = text.find("[") + 1
    n = len(text)
    while pos > 0:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        items.append(item)
    return items


class GenerateJsonReader(JsonReader):
    """generateContent bodies, and streamGenerateContent without `alt=sse` (a JSON array)."""

    __slots__ = ()

    def _from_raw(self, raw: bytes, complete: bool) -> UsageResult:
        body, error = loads(raw, "response body")
        if error is None:
            return self._extract(body, complete)
        if not complete and raw.lstrip().startswith(b"["):
            items = _salvage_array(raw.decode("utf-8", "replace"))
            if items:
                return _chunks_result(items, complete=False)
        return unparseable(error)

    def _extract(self, body: Any, complete: bool) -> UsageResult:
        return _chunks_result(body if isinstance(body, list) else [body], complete)


class GenerateStreamReader(SSEReader):
    """`?alt=sse`: keeps the raw last event carrying `usageMetadata`; parses it in `finish`."""

    __slots__ = ("_last",)

    def __init__(self, content_encoding: str | None) -> None:
        super().__init__(content_encoding)
        self._last: bytes | None = None

    def _on_event(self, event: bytes) -> None:
        if b'"usageMetadata"' in event:
            self._last = event
            self._kept = len(event)  # counted against the buffer budget, like the splitter's bytes
        elif b'"error"' in event:
            body = self.parse_event(event)
            if error := provider_error(body):
                self._error = error

    def _release(self) -> None:
        super()._release()
        self._last = None

    def _stream_result(self, complete: bool) -> UsageResult:
        if self._last is None:
            if self._error:
                return missing(None, self._error)
            return result_from_usage(None, None, complete)
        chunk = self.parse_event(self._last)
        if self._failed is not None:
            return unparseable(self._failed)
        result = _chunks_result([chunk], complete)
        if self._error and result.error is None:
            result.error = self._error
        return result

    def _from_json_body(self, body: Any, complete: bool) -> UsageResult:
        return _chunks_result(body if isinstance(body, list) else [body], complete)
