"""Puts the gateway's request id on the HTTP client span.

The gateway answers every proxied request with `X-Majordomo-Request-Id`, the id of its SQL record. On
the client's own HTTP span that id joins the caller's trace to the row even in a backend that never
receives the gateway's spans. (The cost is not known when these spans end, at the response headers; it
is on the gateway span and the row.)

The hooks run inside the OpenTelemetry httpx/httpx2 instrumentation (`response_hook` /
`async_response_hook`) and the aiohttp one (`aiohttp_response_hook`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

from opentelemetry.trace import Span

from . import semconv as sc
from . import wire

__all__ = ["REQUEST_ID_HEADER", "aiohttp_response_hook", "annotate", "response_hooks"]

REQUEST_ID_HEADER: Final = wire.REQUEST_ID
_MAX_ID_CHARS: Final = 128  # a request id is a UUID; anything longer is not ours

SyncHook = Callable[[Span, Any, Any], None]
AsyncHook = Callable[[Span, Any, Any], Awaitable[None]]


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() if isinstance(value, str) else None


def annotate(span: Span, headers: Any) -> None:
    """Set `majordomo.request_id` from a gateway response's headers."""
    if not span.is_recording():
        return
    request_id = _header(headers, REQUEST_ID_HEADER)
    if not request_id or len(request_id) > _MAX_ID_CHARS:
        return  # not a gateway response: leave the span alone
    span.set_attribute(sc.REQUEST_ID, request_id)


def response_hooks() -> dict[str, Any]:
    """`response_hook` / `async_response_hook` keyword arguments for the httpx instrumentors (never raise)."""

    def sync_hook(span: Span, request: Any, response: Any) -> None:
        _annotate_quietly(span, response)

    async def async_hook(span: Span, request: Any, response: Any) -> None:
        _annotate_quietly(span, response)

    return {"response_hook": sync_hook, "async_response_hook": async_hook}


def aiohttp_response_hook(span: Span, params: Any) -> None:
    """`response_hook` for the aiohttp instrumentor; `params` has no `response` when the request failed."""
    response = getattr(params, "response", None)
    if response is not None:
        _annotate_quietly(span, response)


def _annotate_quietly(span: Span, response: Any) -> None:
    """Telemetry must never break the caller's request."""
    with contextlib.suppress(Exception):
        annotate(span, response.headers)
