"""Usage readers, one per provider API; `reader_for(...)` picks one for a response.

Readers are fed the response body chunk by chunk as it streams to the client and report a
`UsageResult` in the normalised convention of `_types` (DESIGN.md) at the end.
"""

from __future__ import annotations

from ._anthropic import MessagesJsonReader, MessagesStreamReader
from ._gemini import GenerateJsonReader, GenerateStreamReader
from ._openai import ChatJsonReader, ChatStreamReader, ResponsesJsonReader, ResponsesStreamReader
from ._types import Usage, UsageReader, UsageResult, UsageStatus

__all__ = ["PROVIDER_OPERATIONS", "Usage", "UsageReader", "UsageResult", "UsageStatus", "reader_for"]

#: Which operations each provider's reader understands.
PROVIDER_OPERATIONS: dict[str, frozenset[str]] = {
    "openai": frozenset({"chat_completions", "responses", "embeddings", "completions"}),
    "gemini-openai": frozenset({"chat_completions", "embeddings", "completions"}),
    "anthropic": frozenset({"messages", "count_tokens"}),
    "gemini": frozenset({"generate_content", "count_tokens"}),
}


class _NoUsageReader:
    """For operations that bill nothing (count_tokens): ignores the body."""

    __slots__ = ("_reason",)

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def feed(self, chunk: bytes) -> None:
        pass

    def finish(self, *, complete: bool = True) -> UsageResult:
        return UsageResult(usage=Usage(), status=UsageStatus.MISSING, error=self._reason)


def _is_sse(content_type: str | None, streamed: bool) -> bool:
    """Trust the response's content-type; only without one fall back to what the request asked."""
    if content_type:
        return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"
    return streamed


def reader_for(
    provider: str,
    operation: str,
    *,
    streamed: bool,
    content_type: str | None,
    content_encoding: str | None,
) -> UsageReader:
    """A fresh reader for one response.

    `streamed` is whether the request asked for a stream; whether the body is SSE is decided by
    `content_type` (a stream request may be answered with a plain JSON error). SSE readers also
    cope with a JSON body mislabelled `text/event-stream`. Raises ValueError for an unknown
    provider or operation (a routing bug, not a response problem).
    """
    ops = PROVIDER_OPERATIONS.get(provider)
    if ops is None:
        raise ValueError(f"unknown provider {provider!r}")
    if operation not in ops:
        raise ValueError(f"operation {operation!r} is not supported for provider {provider!r}")
    if operation == "count_tokens":
        return _NoUsageReader("count_tokens responses carry no billable usage")
    sse = _is_sse(content_type, streamed)
    if provider in ("openai", "gemini-openai"):
        gemini = provider == "gemini-openai"
        if operation == "responses":
            return ResponsesStreamReader(content_encoding) if sse else ResponsesJsonReader(content_encoding)
        if sse:
            return ChatStreamReader(content_encoding, gemini=gemini)
        return ChatJsonReader(content_encoding, gemini=gemini)
    if provider == "anthropic":
        return MessagesStreamReader(content_encoding) if sse else MessagesJsonReader(content_encoding)
    return GenerateStreamReader(content_encoding) if sse else GenerateJsonReader(content_encoding)
