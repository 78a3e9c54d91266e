"""What the sim saw: one RecordedRequest per request, for tests to assert on."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SimUsage:
    """The usage the sim reported, in the genai-prices / Pydantic AI convention: `input_tokens` counts all
    input (cache reads and writes included), `output_tokens` all billed output (reasoning included)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(eq=False)
class RecordedRequest:
    method: str
    path: str
    """Path with the query string, as sent."""
    headers: list[tuple[str, str]]
    """As sent: original case, duplicates kept, in order."""
    body: bytes
    disconnected: bool = False
    """The client went away before the sim finished sending."""
    finished: bool = False
    """The sim's handler is done with this request (sent everything, failed, or saw the disconnect)."""
    usage: SimUsage | None = None
    """Usage the synthetic reply carried (None for fixture replay, errors and malformed replies)."""
    _lower: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        if not self._lower and self.headers:
            for key, value in self.headers:
                self._lower.setdefault(key.lower(), []).append(value)
        return list(self._lower.get(name.lower(), ()))

    @functools.cached_property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None
