"""A message batch's `results_url`, pointed back at the gateway.

Anthropic's batch objects carry an absolute `results_url` (`https://api.anthropic.com/v1/messages/batches/
<id>/results`), and the SDKs fetch it as given: a client that reached the batch through the gateway would
download its results straight from the provider, unrecorded, and send the key in its SDK slot (perhaps a
Majordomo key) to the provider. So the gateway rewrites that URL in batch responses to its own origin (the
one the client used, `X-Forwarded-Proto`/`-Host` honoured behind a load balancer), keeping the provider
prefix the client called with. Nothing else in the body changes, byte for byte.
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from .providers import Family
from .routes import Route

#: What one batch response may hold to be rewritten; a larger one (no real page is) passes unchanged.
MAX_BUFFERED: Final = 8 * 1024 * 1024
_RESULTS_URL: Final = re.compile(
    rb'("results_url"\s*:\s*")https?://[^"/\\]+(?:/[^"\\]*?)?(/v1/messages/batches/[^"/\\]+/results)"'
)


def results_base(route: Route, request: web.BaseRequest) -> str | None:
    """The gateway URL a batch's results should be fetched from, or None when this response has no batch."""
    provider = route.provider
    if provider.family is not Family.ANTHROPIC or route.operation != "messages_batches":
        return None
    raw_path = request.rel_url.raw_path
    if raw_path.rstrip("/").endswith("/results"):
        return None  # the results themselves (JSONL), not a batch object
    headers = request.headers
    scheme = headers.get("X-Forwarded-Proto", "").split(",")[0].strip() or request.scheme
    host = headers.get("X-Forwarded-Host", "").split(",")[0].strip() or request.host
    prefix = f"/{provider.name}" if raw_path.startswith(f"/{provider.name}/") else ""
    return f"{scheme}://{host}{prefix}"


class ResultsUrlFilter:
    """Holds a batch response (up to `MAX_BUFFERED`) and gives it back with each `results_url` rewritten."""

    __slots__ = ("_base", "_held", "_passthrough")

    def __init__(self, base: str) -> None:
        self._base = base.encode()
        self._held = bytearray()
        self._passthrough = False

    def feed(self, chunk: bytes) -> bytes:
        if self._passthrough:
            return chunk
        self._held += chunk
        if len(self._held) > MAX_BUFFERED:  # not a batch page: give up, hand on what is held, unchanged
            self._passthrough = True
            held, self._held = bytes(self._held), bytearray()
            return held
        return b""

    def flush(self) -> bytes:
        held, self._held = bytes(self._held), bytearray()
        if self._passthrough:
            return held
        return _RESULTS_URL.sub(lambda m: m[1] + self._base + m[2] + b'"', held)
