"""Which headers cross the gateway, in each direction.

Upstream gets the client's own headers unchanged (`Authorization`, `x-api-key`, `x-goog-api-key`,
`anthropic-version`, `anthropic-beta`, `Accept-Encoding`, ...) minus hop-by-hop headers, every
`X-Majordomo-*` header and `baggage`: our metadata and API key never reach a provider. The
client gets the provider's headers unchanged minus hop-by-hop ones, plus our request and trace ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .. import wire

_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Not forwarded upstream: recomputed by the HTTP client (host, content-length), our own
# (x-majordomo-*), or trace context we replace with the upstream span's (traceparent, tracestate).
_NOT_UPSTREAM: Final = _HOP_BY_HOP | frozenset(
    {"host", "content-length", "baggage", "traceparent", "tracestate", "expect"}
)
_NOT_DOWNSTREAM: Final = frozenset(_HOP_BY_HOP)

REQUEST_ID_HEADER: Final = wire.REQUEST_ID
TRACE_ID_HEADER: Final = wire.TRACE_ID


def _kept(
    headers: Iterable[tuple[str, str]], connection: str | None, drop: frozenset[str], drop_ours: bool
) -> list[tuple[str, str]]:
    # Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). A plain list: both aiohttp's
    # client and `StreamResponse.headers.extend` take one, and it costs less to build than a multidict.
    named = {token.strip().lower() for token in connection.split(",")} if connection else set()
    return [
        (name, value)
        for name, value in headers
        if (lowered := name.lower()) not in drop
        and lowered not in named
        and not (drop_ours and lowered.startswith(wire.PREFIX_LOWER))
    ]


def upstream_headers(headers: Iterable[tuple[str, str]], connection: str | None) -> list[tuple[str, str]]:
    """The client's headers for the provider: its own, minus hop-by-hop, trace context and everything of ours."""
    return _kept(headers, connection, _NOT_UPSTREAM, drop_ours=True)


def downstream_headers(headers: Iterable[tuple[str, str]], connection: str | None) -> list[tuple[str, str]]:
    """The provider's headers for the client, minus hop-by-hop ones."""
    return _kept(headers, connection, _NOT_DOWNSTREAM, drop_ours=False)
