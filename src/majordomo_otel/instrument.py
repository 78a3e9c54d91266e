"""`instrument()` / `uninstrument()`: one idempotent call wires tags into traces and gateway requests.

What it does, in order: picks the tracer provider (the one given; else the global one if it is an
SDK provider, which is Logfire's after `logfire.configure()`; else a new SDK provider from the
`OTEL_*` variables), adds the tag span processor, instruments Pydantic AI, both `httpx` and
`httpx2` (Pydantic AI 2.x and the OpenAI/Anthropic SDKs send through `httpx2`) and, when installed,
`aiohttp` (google-genai's async client uses it), scopes outgoing requests to their destination (see
`propagator`), and installs the propagators.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import _settings, wire
from ._client_span import aiohttp_response_hook, response_hooks
from ._otlp import span_exporter_from_env
from ._span_processor import MajordomoSpanProcessor
from .propagator import (
    GatewayBaggagePropagator,
    MajordomoPropagator,
    configure,
    enter_destination,
    exit_destination,
    is_gateway_origin,
)

__all__ = ["instrument", "uninstrument"]

_STRIP_PREFIX = wire.PREFIX_LOWER


@dataclass
class _Installed:
    provider: Any
    processor: MajordomoSpanProcessor
    previous_textmap: TextMapPropagator
    previous_agent_default: Any = None
    agent_default_set: bool = False
    instrumentors: list[Any] = field(default_factory=list)
    wrapped: list[tuple[Any, str, Any]] = field(default_factory=list)
    set_anthropic_env: bool = False


_STATE: _Installed | None = None


def _is_gateway_url(url: Any) -> bool:
    """For an `httpx.URL` or a `yarl.URL` (aiohttp): both name the scheme, host and port alike."""
    return is_gateway_origin(url.scheme, url.host or "", url.port)


def _scope(url: Any, headers: Any) -> bool:
    """Whether a request hop goes to the gateway; if not, nothing Majordomo (nor baggage) leaves with it,
    even if set explicitly."""
    if _is_gateway_url(url):
        return True
    doomed = {name.lower() for name in headers if name.lower().startswith(_STRIP_PREFIX) or name.lower() == "baggage"}
    for name in doomed:
        del headers[name]  # every value of it, case-insensitively (httpx and aiohttp headers alike)
    return False


def _sync_send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request = args[0] if args else kwargs["request"]
    token = enter_destination(_scope(request.url, request.headers))
    try:
        return wrapped(*args, **kwargs)
    finally:
        exit_destination(token)


async def _async_send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    request = args[0] if args else kwargs["request"]
    token = enter_destination(_scope(request.url, request.headers))
    try:
        return await wrapped(*args, **kwargs)
    finally:
        exit_destination(token)


async def _aiohttp_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`ClientSession._request`: aiohttp's instrumentation injects once, as the request starts (before any
    redirect), so the destination is the URL asked for; each hop is scoped again in `_aiohttp_send`."""
    try:
        url = instance._build_url(args[1] if len(args) > 1 else kwargs["str_or_url"])  # joins `base_url`
    except ValueError:  # aiohttp itself raises for this URL
        is_gateway = False
    else:
        is_gateway = _is_gateway_url(url)
    token = enter_destination(is_gateway)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        exit_destination(token)


async def _aiohttp_send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`ClientRequest.send`, once per hop with the headers about to be written: a redirect away from the
    gateway takes nothing Majordomo along (aiohttp reuses the first hop's headers)."""
    _scope(instance.url, instance.headers)
    return await wrapped(*args, **kwargs)


def _wrap(state: _Installed, cls: type, name: str, wrapper: Any) -> None:
    state.wrapped.append((cls, name, cls.__dict__[name]))
    wrapt.wrap_function_wrapper(cls, name, wrapper)


def _aiohttp() -> ModuleType | None:
    """aiohttp is optional: google-genai's async client uses it when it is installed."""
    try:
        import aiohttp
    except ImportError:
        return None
    return aiohttp


def _wrap_clients(state: _Installed) -> None:
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:  # pragma: no cover - both are dependencies
            continue
        _wrap(state, module.Client, "_send_single_request", _sync_send)
        _wrap(state, module.AsyncClient, "_send_single_request", _async_send)
    if (aiohttp := _aiohttp()) is not None:
        _wrap(state, aiohttp.ClientSession, "_request", _aiohttp_request)
        _wrap(state, aiohttp.ClientRequest, "send", _aiohttp_send)


def _choose_provider(tracer_provider: Any) -> Any:
    if tracer_provider is not None:
        return tracer_provider
    current = trace.get_tracer_provider()
    if hasattr(current, "add_span_processor"):  # SDK provider, or Logfire's proxy around one
        return current
    provider = SDKTracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if (exporter := span_exporter_from_env()) is not None:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _flatten(propagator: TextMapPropagator) -> list[TextMapPropagator]:
    if isinstance(propagator, CompositePropagator):
        return [leaf for child in propagator._propagators for leaf in _flatten(child)]
    return [propagator]


def _compose(existing: TextMapPropagator, scope_baggage: bool) -> TextMapPropagator:
    """Existing propagators (minus any Majordomo one) + tracecontext if missing + ours, baggage scoped.

    Logfire wraps the global propagator (`WarnOnExtractTraceContextPropagator`) and unwraps it again
    by type for its own in-process context hand-offs (thread pools), so its wrapper stays outermost.
    """
    wrapped = getattr(existing, "wrapped", None)
    if isinstance(wrapped, TextMapPropagator) and type(existing).__module__.startswith("logfire"):
        outer = copy.copy(existing)
        outer.wrapped = _compose(wrapped, scope_baggage)  # type: ignore[attr-defined]
        return outer
    leaves: list[TextMapPropagator] = []
    for leaf in _flatten(existing):
        if isinstance(leaf, MajordomoPropagator):
            continue
        if scope_baggage and type(leaf) is W3CBaggagePropagator:
            leaf = GatewayBaggagePropagator()
        leaves.append(leaf)
    if not any(isinstance(leaf, TraceContextTextMapPropagator) for leaf in leaves):
        leaves.insert(0, TraceContextTextMapPropagator())
    leaves.append(MajordomoPropagator())
    return CompositePropagator(leaves)


def _instrument_httpx(state: _Installed) -> None:
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor

    for instrumentor_cls in (HTTPXClientInstrumentor, HTTPX2ClientInstrumentor):
        instrumentor = instrumentor_cls()
        if not instrumentor.is_instrumented_by_opentelemetry:
            # The gateway's request id (and cost, if sent) on the HTTP client span; see `_client_span`.
            instrumentor.instrument(tracer_provider=state.provider, **response_hooks())
            state.instrumentors.append(instrumentor)


def _instrument_aiohttp(state: _Installed) -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=state.provider, response_hook=aiohttp_response_hook)
        state.instrumentors.append(instrumentor)


def _instrument_pydantic_ai(state: _Installed) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    previous = Agent._instrument_default
    if previous is False:  # keep Logfire's (or the user's) settings when already set
        state.previous_agent_default = previous
        state.agent_default_set = True
        Agent.instrument_all(InstrumentationSettings(tracer_provider=state.provider))


def instrument(
    *,
    gateway_url: str | Sequence[str] | None = None,
    api_key: str | None = None,
    tracer_provider: Any = None,
    instrument_pydantic_ai: bool = True,
    instrument_httpx: bool = True,
    instrument_aiohttp: bool = True,
    anthropic_sdk_spans: bool | None = None,
    scope_baggage: bool = True,
) -> Any:
    """Wire tags into spans and gateway requests; returns the tracer provider in use.

    Idempotent: a second call only updates the gateway origins and key. `gateway_url` may be a
    comma-separated string or a list (default `MAJORDOMO_GATEWAY_URL`); `api_key` defaults to
    `MAJORDOMO_API_KEY`. `anthropic_sdk_spans` (default `MAJORDOMO_ANTHROPIC_SDK_SPANS`, off)
    keeps the Anthropic SDK's own spans, which repeat `gen_ai.usage.*` under Pydantic AI's `chat`
    span and so double the usage in backends that sum spans; off sets `ANTHROPIC_OPEN_TELEMETRY=false`
    (unless already set) for clients built afterwards. `scope_baggage` (default on) sends W3C
    baggage to the gateway only. `instrument_httpx` / `instrument_aiohttp` add the OTel HTTP client
    spans; requests are scoped to their destination either way.
    """
    global _STATE
    urls = [u.strip() for u in gateway_url.split(",")] if isinstance(gateway_url, str) else gateway_url
    configure(urls, api_key)
    if _STATE is not None:
        return _STATE.provider

    provider = _choose_provider(tracer_provider)
    processor = MajordomoSpanProcessor()
    provider.add_span_processor(processor)
    state = _Installed(provider=provider, processor=processor, previous_textmap=propagate.get_global_textmap())
    _STATE = state

    keep_sdk_spans = _settings.anthropic_sdk_spans() if anthropic_sdk_spans is None else anthropic_sdk_spans
    if not keep_sdk_spans and "ANTHROPIC_OPEN_TELEMETRY" not in os.environ:
        os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
        state.set_anthropic_env = True

    if instrument_pydantic_ai:
        _instrument_pydantic_ai(state)
    if instrument_httpx:
        _instrument_httpx(state)
    if instrument_aiohttp and _aiohttp() is not None:
        _instrument_aiohttp(state)
    _wrap_clients(state)
    propagate.set_global_textmap(_compose(state.previous_textmap, scope_baggage))
    return provider


def uninstrument() -> None:
    """Undo what `instrument()` did (the span processor stays on the provider: OTel cannot remove one)."""
    global _STATE
    state = _STATE
    if state is None:
        return
    _STATE = None
    propagate.set_global_textmap(state.previous_textmap)
    for cls, name, original in state.wrapped:
        # Put back what was there (wrapt 2's FunctionWrapper is no `wrapt.ObjectProxy` instance,
        # so unwrapping by type silently left the scoping in place after `uninstrument()`).
        setattr(cls, name, original)
    for instrumentor in state.instrumentors:
        instrumentor.uninstrument()
    if state.agent_default_set:
        from pydantic_ai import Agent

        Agent.instrument_all(state.previous_agent_default)
    if state.set_anthropic_env:
        os.environ.pop("ANTHROPIC_OPEN_TELEMETRY", None)
    state.processor.disable()


def is_instrumented() -> bool:
    return _STATE is not None
