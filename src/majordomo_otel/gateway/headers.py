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


class _HeaderFilter:
    """Which headers cross in one direction, decided once per header name.

    Names repeat request after request (the same SDKs, the same provider), so lowering a name and testing
    it against the sets runs once per distinct name, not per header: per request that leaves a dict
    lookup per header (a third of the instructions). Names are the client's and the provider's to choose,
    so at most MAX_NAMES decisions are kept (then they start over). Headers named in `Connection` are
    hop-by-hop too (RFC 9110 §7.6.1): those not dropped already are taken out in a second pass.
    """

    MAX_NAMES: Final = 1024
    __slots__ = ("_drop", "_drop_ours", "_keep")

    def __init__(self, drop: frozenset[str], *, drop_ours: bool) -> None:
        self._drop = drop
        self._drop_ours = drop_ours
        self._keep: dict[str, bool] = {}

    def kept(self, headers: Iterable[tuple[str, str]], connection: str | None) -> list[tuple[str, str]]:
        # A plain list: aiohttp's client and `StreamResponse.headers.extend` both take one, and it costs
        # less to build than a multidict.
        out = []
        known = self._keep.get
        for item in headers:
            keep = known(item[0])
            if keep is None:
                keep = self._learn(item[0])
            if keep:
                out.append(item)
        # `Connection: keep-alive` (httpx, the openai SDKs) names only what is dropped already.
        if connection and (named := {token.strip().lower() for token in connection.split(",")} - self._drop):
            out = [item for item in out if item[0].lower() not in named]
        return out

    def _crosses(self, name: str) -> bool:
        lowered = name.lower()
        return lowered not in self._drop and not (self._drop_ours and lowered.startswith(wire.PREFIX_LOWER))

    def _learn(self, name: str) -> bool:
        if len(self._keep) >= self.MAX_NAMES:
            self._keep.clear()
        keep = self._keep[name] = self._crosses(name)
        return keep


_UPSTREAM: Final = _HeaderFilter(_NOT_UPSTREAM, drop_ours=True)
_DOWNSTREAM: Final = _HeaderFilter(_NOT_DOWNSTREAM, drop_ours=False)


def upstream_headers(headers: Iterable[tuple[str, str]], connection: str | None) -> list[tuple[str, str]]:
    """The client's headers for the provider: its own, minus hop-by-hop, trace context and everything of ours."""
    return _UPSTREAM.kept(headers, connection)


def downstream_headers(headers: Iterable[tuple[str, str]], connection: str | None) -> list[tuple[str, str]]:
    """The provider's headers for the client, minus hop-by-hop ones."""
    return _DOWNSTREAM.kept(headers, connection)
