"""`RequestRecord`: the one fact per proxied request. The SQL row and the gateway span both render it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


def new_request_id() -> str:
    """Time-ordered UUIDv7 so the primary key index stays append-mostly.

    Request ids are identifiers, not secrets, so `random` (no syscall) is enough.
    """
    ms = time.time_ns() // 1_000_000
    rand = random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class RequestRecord:
    id: str
    provider: str  # openai | anthropic | gemini | gemini-openai
    request_path: str
    request_method: str
    requested_at: datetime
    #: chat_completions | responses | embeddings | completions | messages | count_tokens | generate_content
    operation: str = "unknown"
    model: str | None = None  # the response's model if it names one, else the request's
    request_model: str | None = None
    responded_at: datetime | None = None
    response_time_ms: float | None = None
    time_to_first_token_ms: float | None = None
    streamed: bool = False
    status_code: int | None = None
    #: normalised: all input incl. cache reads/writes; all billed output incl. reasoning
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_status: str = "missing"
    input_cost: Decimal | None = None
    output_cost: Decimal | None = None
    total_cost: Decimal | None = None
    #: priced | unknown_model | no_usage | unpriceable (counts genai-prices refuses)
    pricing_status: str = "no_usage"
    error_message: str | None = None
    raw_metadata: dict[str, str] = field(default_factory=dict)
    majordomo_api_key_id: str | None = None
    provider_api_key_hash: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None

    def add_error(self, message: str) -> None:
        self.error_message = message if not self.error_message else f"{self.error_message}; {message}"

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


COLUMNS: tuple[str, ...] = tuple(RequestRecord.__slots__)
