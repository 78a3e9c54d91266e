"""One process-wide OTel set-up (a tracer provider can only be set once): an SDK provider with an
in-memory exporter, `instrument()` pointed at a gateway origin served by the sim; cleared per test.
Set-ups that need a fresh global provider (Logfire, `opentelemetry-instrument`) run in subprocesses.

Both servers are `SimServer.in_thread()`: tests run on per-test event loops and in thread pools, so the
sim needs a loop of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from majordomo_otel.sim import SimServer

API_KEY = "mdm_sk_test"


@pytest.fixture(scope="session")
def gateway() -> Iterator[SimServer]:
    """The configured gateway origin: `instrument()` sends X-Majordomo-* headers here and nowhere else."""
    with SimServer.in_thread() as server:
        yield server


@pytest.fixture(scope="session")
def other_host() -> Iterator[SimServer]:
    """A provider that is not the gateway: it must get no Majordomo headers and no baggage."""
    with SimServer.in_thread() as server:
        yield server


@pytest.fixture(scope="package")
def _instrumented(gateway: SimServer) -> Iterator[InMemorySpanExporter]:
    """Instrumented for this package's tests only: other packages must see a process without it
    (its scoping strips X-Majordomo-* headers from requests to any other origin)."""
    import majordomo_otel

    env = {"MAJORDOMO_GATEWAY_URL": gateway.url, "MAJORDOMO_API_KEY": API_KEY}
    env.update({name: f"{name.lower()}-value" for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")})
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    majordomo_otel.instrument(gateway_url=gateway.url, api_key=API_KEY)
    yield exporter
    majordomo_otel.uninstrument()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def exporter(_instrumented: InMemorySpanExporter, gateway: SimServer, other_host: SimServer) -> InMemorySpanExporter:
    _instrumented.clear()
    gateway.clear()
    other_host.clear()
    return _instrumented
