"""Usage readers, one per provider API; `reader_for(...)` picks one for a response.

Readers are fed the response body chunk by chunk as it streams to the client and report a
`UsageResult` in the normalised convention of `_types` (docs/architecture.md) at the end.
"""

from __future__ import annotations

from ..providers import BUILTIN, Family, Provider
from ._anthropic import MessagesJsonReader, MessagesStreamReader
from ._gemini import GenerateJsonReader, GenerateStreamReader
from ._openai import ChatJsonReader, ChatStreamReader, ResponsesJsonReader, ResponsesStreamReader
from ._types import Usage, UsageReader, UsageResult, UsageStatus

__all__ = [
    "FAMILY_OPERATIONS",
    "NoUsageReader",
    "Usage",
    "UsageReader",
    "UsageResult",
    "UsageStatus",
    "reader_for",
]

#: Which operations each API family's readers understand.
FAMILY_OPERATIONS: dict[Family, frozenset[str]] = {
    Family.OPENAI: frozenset({"chat_completions", "responses", "embeddings", "completions"}),
    Family.ANTHROPIC: frozenset({"messages", "count_tokens"}),
    Family.GEMINI: frozenset({"generate_content", "count_tokens"}),
}
_BUILTIN: dict[str, Provider] = {p.name: p for p in BUILTIN}


class NoUsageReader:
    """For responses with no usage to read: ignores the body; says which `pricing_status` the row gets.

    `not_billable` for operations that cost nothing (models, moderations, count_tokens); `not_metered`
    for billed ones whose responses report no usage (files, batches, Gemini embeddings).
    """

    __slots__ = ("_reason", "ended", "pricing_status")

    def __init__(self, reason: str | None = None, *, billable: bool = False) -> None:
        self._reason = reason
        self.ended = False  # the body is not read: its end is the body's end
        self.pricing_status = "not_metered" if billable else "not_billable"

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
    provider: Provider | str,
    operation: str,
    *,
    streamed: bool,
    content_type: str | None,
    content_encoding: str | None,
) -> UsageReader:
    """A fresh reader for one response.

    `streamed` is whether the request asked for a stream; whether the body is SSE is decided by
    `content_type` (a stream request may be answered with a plain JSON error). SSE readers also
    cope with a JSON body mislabelled `text/event-stream`. `provider` is a provider table row, or a
    built-in provider's name. Raises ValueError for an unknown provider or operation (a routing bug,
    not a response problem).
    """
    row = _BUILTIN.get(provider) if isinstance(provider, str) else provider
    if row is None:
        raise ValueError(f"unknown provider {provider!r}")
    if operation not in FAMILY_OPERATIONS[row.family]:
        raise ValueError(f"operation {operation!r} is not supported for provider {row.name!r}")
    if operation == "count_tokens":
        return NoUsageReader("count_tokens responses carry no billable usage")
    sse = _is_sse(content_type, streamed)
    if row.family is Family.OPENAI:
        gemini = row.unreported_thinking
        if operation == "responses":
            return ResponsesStreamReader(content_encoding) if sse else ResponsesJsonReader(content_encoding)
        if sse:
            return ChatStreamReader(content_encoding, gemini=gemini)
        return ChatJsonReader(content_encoding, gemini=gemini)
    if row.family is Family.ANTHROPIC:
        return MessagesStreamReader(content_encoding) if sse else MessagesJsonReader(content_encoding)
    return GenerateStreamReader(content_encoding) if sse else GenerateJsonReader(content_encoding)
