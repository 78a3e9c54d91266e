"""The `X-Sim-*` request headers a test uses to steer the sim.

| header | effect |
| --- | --- |
| `X-Sim-Fixture: openai/chat_basic` | replay that fixture byte for byte (status, headers, body), any path |
| `X-Sim-Delay-Ms: 5` | sleep before every write (the first included) |
| `X-Sim-Hold: 1` | pause before the last write until `SimServer.release()` (sticky until `clear()`) |
| `X-Sim-Status: 500` | answer with that status and the provider's error body |
| `X-Sim-Malformed: 1` | JSON cut in half; a stream whose second half is one broken event |
| `X-Sim-Cut-After: N` | close the connection after N writes (events), without ending the response |
| `X-Sim-Cached-Tokens: N` | report N cache-read input tokens (on top of the counted input) |
| `X-Sim-Cache-Write-Tokens: N` | report N cache-write input tokens (Anthropic, OpenAI) |
| `X-Sim-Reasoning-Tokens: N` | report N reasoning / thinking tokens (in each provider's own way) |
| `X-Sim-Output-Tokens: N` | make the text answer N tokens (words) long |
| `X-Sim-Chunks: N` | split a synthetic stream's text (or tool arguments) into N delta events |
| `X-Sim-End-Delay-Ms: N` | after the last event (`[DONE]`, ...), wait N ms before ending the body |
| `X-Sim-Stream-Usage: always` | a chat stream reports usage unasked, on its last chunk (Mistral's way) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _int(headers: Any, name: str) -> int | None:
    value = headers.get(name)
    if value is None or value == "":
        return None
    return int(value)


@dataclass(frozen=True)
class Controls:
    fixture: str | None = None
    delay_ms: int = 0
    hold: bool = False
    status: int | None = None
    malformed: bool = False
    cut_after: int | None = None
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    output_tokens: int | None = None
    chunks: int | None = None
    end_delay_ms: int = 0
    always_usage: bool = False

    @classmethod
    def from_headers(cls, headers: Any) -> Controls:
        return cls(
            fixture=headers.get("X-Sim-Fixture"),
            delay_ms=_int(headers, "X-Sim-Delay-Ms") or 0,
            hold=headers.get("X-Sim-Hold", "0") not in ("", "0", "false"),
            status=_int(headers, "X-Sim-Status"),
            malformed=headers.get("X-Sim-Malformed", "0") not in ("", "0", "false"),
            cut_after=_int(headers, "X-Sim-Cut-After"),
            cached_tokens=_int(headers, "X-Sim-Cached-Tokens") or 0,
            cache_write_tokens=_int(headers, "X-Sim-Cache-Write-Tokens") or 0,
            reasoning_tokens=_int(headers, "X-Sim-Reasoning-Tokens") or 0,
            output_tokens=_int(headers, "X-Sim-Output-Tokens"),
            chunks=_int(headers, "X-Sim-Chunks"),
            end_delay_ms=_int(headers, "X-Sim-End-Delay-Ms") or 0,
            always_usage=headers.get("X-Sim-Stream-Usage", "").lower() == "always",
        )

    def cache_key(self) -> tuple[Any, ...]:
        """The controls that change a synthetic reply's bytes (pacing does not)."""
        return (
            self.status,
            self.malformed,
            self.cached_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            self.output_tokens,
            self.chunks,
            self.always_usage,
        )


NO_CONTROLS = Controls()
