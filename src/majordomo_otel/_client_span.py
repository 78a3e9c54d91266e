"""Puts the gateway's request id (and cost, when the response carries one) on the HTTP client span.

The gateway answers every proxied request with `X-Majordomo-Request-Id`, the id of its SQL record. On
the client's own HTTP span that id joins the caller's trace to the row even in a backend that never
receives the gateway's spans. `X-Majordomo-Cost` (USD) is read when present: the httpx spans end when
the response *headers* arrive, so a cost can only ride on a non-streamed response; a streamed one's
cost is known after the body, when the span has already ended (it lives on the gateway span instead).

The hooks run inside the OpenTelemetry httpx/httpx2 instrumentation (`response_hook` /
`async_response_hook`; `response_hooks()` chains a hook the user passed after ours) and the aiohttp
one (`aiohttp_response_hook`), whose spans also end when the response headers arrive.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final

from opentelemetry.trace import Span

__all__ = ["COST_HEADER", "REQUEST_ID_HEADER", "aiohttp_response_hook", "annotate", "response_hooks"]

REQUEST_ID_HEADER: Final = "X-Majordomo-Request-Id"
COST_HEADER: Final = "X-Majordomo-Cost"
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
    """Set `majordomo.request_id` / `majordomo.cost.total` from a gateway response's headers."""
    if not span.is_recording():
        return
    request_id = _header(headers, REQUEST_ID_HEADER)
    if not request_id or len(request_id) > _MAX_ID_CHARS:
        return  # not a gateway response: leave the span alone
    attributes: dict[str, Any] = {"majordomo.request_id": request_id}
    cost = _header(headers, COST_HEADER)
    if cost:
        try:
            value = float(cost)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            attributes["majordomo.cost.total"] = value
    span.set_attributes(attributes)


def response_hooks(user_sync: SyncHook | None = None, user_async: AsyncHook | None = None) -> dict[str, Any]:
    """`response_hook` / `async_response_hook` keyword arguments for the httpx instrumentors.

    Ours runs first and never raises into the request; the user's (if any) runs after it, unchanged.
    """

    def sync_hook(span: Span, request: Any, response: Any) -> None:
        _annotate_quietly(span, response)
        if user_sync is not None:
            user_sync(span, request, response)

    async def async_hook(span: Span, request: Any, response: Any) -> None:
        _annotate_quietly(span, response)
        if user_async is not None:
            await user_async(span, request, response)

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
