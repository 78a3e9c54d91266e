"""`MajordomoPropagator`: OTel context ⇄ `X-Majordomo-*` headers, written only for the gateway.

Why a ContextVar for the destination: `TextMapPropagator.inject(carrier)` is never told where the
carrier goes (the httpx instrumentor passes a bare `Headers` copy). So `instrument()` wraps
`httpx.Client._send_single_request` / `httpx2.AsyncClient._send_single_request` (and the sync/async
twins): that client-level method runs once per outgoing request, redirects included, and always
*outside* the transport where the OTel httpx instrumentor calls `inject()`, whatever order the
instrumentors were installed in. The wrapper records whether the request goes to a configured
gateway origin (scheme, host, port; the loopback names count as one host) in `_DESTINATION`;
`inject()` reads it. aiohttp's instrumentation injects as a request starts, so there the scope is
`ClientSession._request` (see `instrument`). Outside such a scope (an unknown destination: another
HTTP library, the Anthropic SDK injecting before `send`) the propagator writes nothing: it fails
closed. `destination(url)` sets the scope by hand.

Baggage follows the same rule (`GatewayBaggagePropagator`): Pydantic AI puts the agent name, run id
and conversation id in baggage (`pydantic_ai/capabilities/instrumentation.py`), and the W3C baggage
propagator would send them to every host. The gateway does receive baggage (it may record it, and
must never forward it upstream).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from . import _settings, wire
from .tags import NAMED, Tags, get_tags, set_tags

__all__ = [
    "GatewayBaggagePropagator",
    "MajordomoPropagator",
    "configure",
    "destination",
    "is_gateway_origin",
]

KEY_HEADER: Final = wire.KEY
_FIELDS: Final = frozenset({wire.KEY.lower()} | {wire.header(suffix).lower() for suffix in NAMED.values()})

#: True while a request to a gateway origin is being sent, False for any other host, None when unknown.
_DESTINATION: ContextVar[bool | None] = ContextVar("majordomo_destination", default=None)


class _Config:
    """Gateway origins and key. Unconfigured, it follows the environment (read once, on first use)."""

    __slots__ = ("api_key", "origins")

    def __init__(self) -> None:
        self.origins: frozenset[_settings.Origin] | None = None
        self.api_key: str | None = None


_CONFIG: Final = _Config()


def configure(gateway_urls: Sequence[str] | None = None, api_key: str | None = None) -> None:
    """Set the gateway origin(s) and key; `None` means "from the environment" (`MAJORDOMO_*`)."""
    urls = list(gateway_urls) if gateway_urls is not None else _settings.gateway_urls()
    _CONFIG.origins = frozenset(_settings.origin_of(url) for url in urls)
    _CONFIG.api_key = api_key


def api_key() -> str | None:
    """The Majordomo key, one source for the propagator and the guide's helpers: the one `instrument()`
    or `configure()` was given, else `MAJORDOMO_API_KEY` (read each time, so it may be set late)."""
    return _CONFIG.api_key or _settings.api_key()


def _origins() -> frozenset[_settings.Origin]:
    if _CONFIG.origins is None:
        configure()
    assert _CONFIG.origins is not None
    return _CONFIG.origins


def is_gateway_origin(scheme: str, host: str, port: int | None) -> bool:
    return _settings.origin(scheme, host, port) in _origins()


def is_gateway_url(url: str) -> bool:
    return _settings.origin_of(url) in _origins()


def enter_destination(is_gateway: bool) -> Token[bool | None]:
    return _DESTINATION.set(is_gateway)


def exit_destination(token: Token[bool | None]) -> None:
    _DESTINATION.reset(token)


@contextmanager
def destination(url: str) -> Iterator[bool]:
    """Scope `inject()` calls to a request for `url` (for HTTP clients `instrument()` does not wrap)."""
    token = _DESTINATION.set(is_gateway_url(url))
    try:
        yield _DESTINATION.get() is True
    finally:
        _DESTINATION.reset(token)


def _carrier_has(carrier: Any, name: str) -> bool:
    """Whether the request already has header `name` (explicit headers win over context tags)."""
    if isinstance(carrier, dict):
        lowered = name.lower()
        return any(key.lower() == lowered for key in carrier)
    try:
        return name in carrier  # httpx.Headers and friends compare case-insensitively
    except TypeError:
        return False


def majordomo_headers(tags: Tags, key: str | None) -> dict[str, str]:
    headers = tags.headers()
    if key:
        headers[KEY_HEADER] = key
    return headers


def set_missing_headers(carrier: Any, headers: Mapping[str, str], setter: Setter[Any] = default_setter) -> None:
    for name, value in headers.items():
        if not _carrier_has(carrier, name):
            setter.set(carrier, name, value)


class MajordomoPropagator(TextMapPropagator):
    """Writes `X-Majordomo-<Tag>` and `X-Majordomo-Key` on gateway requests only; reads tags back.

    Headers already on the request (e.g. from `extra_headers`) are never overwritten.
    """

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        if _DESTINATION.get() is not True:
            return
        if _CONFIG.origins is None:
            configure()
        set_missing_headers(carrier, majordomo_headers(get_tags(context), api_key()), setter)

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        pairs: list[tuple[str, str]] = []
        for name in getter.keys(carrier):
            if name.lower().startswith(wire.PREFIX_LOWER):
                values = getter.get(carrier, name)
                if values:
                    pairs.append((name, values[0]))
        found, _problems = Tags.from_headers(pairs)
        if not found:
            return context if context is not None else otel_context.get_current()
        return set_tags(found, context)

    @property
    def fields(self) -> set[str]:
        return set(_FIELDS)


class GatewayBaggagePropagator(W3CBaggagePropagator):
    """W3C baggage, injected only on requests to the gateway (Pydantic AI's run ids stay in-process)."""

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        if _DESTINATION.get() is True:
            super().inject(carrier, context, setter)
