"""What a usage reader produces, in the normalised convention of docs/architecture.md.

`input_tokens` counts every input token, cache reads and writes included; `output_tokens` every
billed output token, reasoning included. Each provider's raw fields are mapped onto that by its
own reader (Anthropic adds its cache counts to `input_tokens`; Gemini adds `thoughtsTokenCount`
to `candidatesTokenCount`). `None` means "not reported", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class UsageStatus(StrEnum):
    """How much we know about a response's usage."""

    REPORTED = "reported"  # the provider reported usage and we read it
    MISSING = "missing"  # the response carried no usage (e.g. a chat stream without include_usage, an error)
    PARTIAL = "partial"  # the stream ended early (client gone, upstream cut): the last counts seen
    UNPARSEABLE = "unparseable"  # the body or stream could not be parsed; see the record's error


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    #: Anthropic's 1-hour TTL cache writes (a subset of `cache_write_tokens`), priced differently.
    cache_write_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: Per-modality subsets, priced apart by some models (Gemini audio); same meaning as genai-prices' keys.
    input_audio_tokens: int | None = None  # a subset of input_tokens
    cache_audio_read_tokens: int | None = None  # a subset of cache_read_tokens
    output_audio_tokens: int | None = None  # a subset of output_tokens

    @property
    def reported(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


@dataclass(slots=True)
class UsageResult:
    """Everything read from one response."""

    usage: Usage
    status: UsageStatus
    #: The model the response names (dated snapshot), else None: the caller falls back to the request's.
    model: str | None = None
    error: str | None = None


class UsageReader(Protocol):
    """Reads usage incrementally from a response body as it streams past.

    `feed` is called with each chunk of the body as received (still compressed if the response is:
    the reader decompresses for itself); it must be cheap and must never raise. `finish` is called
    once at the end; `complete=False` means the stream was cut short. `ended` turns True once the
    stream's terminal event has been read (`data: [DONE]`, `message_stop`, `response.completed`): once
    the client has that event the request succeeded, whatever the client does next.
    """

    ended: bool

    def feed(self, chunk: bytes) -> None: ...

    def finish(self, *, complete: bool = True) -> UsageResult: ...
