"""One process-wide OTel set-up (a tracer provider can only be set once): an SDK provider with an
in-memory exporter, `instrument()` pointed at a recording gateway stand-in; cleared per test.
Set-ups that need a fresh global provider (Logfire, `opentelemetry-instrument`) run in subprocesses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._fake import FakeServer

API_KEY = "mdm_sk_test"


@pytest.fixture(scope="session")
def gateway() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def other_host() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _instrumented(gateway: FakeServer) -> Iterator[InMemorySpanExporter]:
    import majordomo_otel

    os.environ["MAJORDOMO_GATEWAY_URL"] = gateway.url
    os.environ["MAJORDOMO_API_KEY"] = API_KEY
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        os.environ[name] = f"{name.lower()}-value"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    majordomo_otel.instrument(gateway_url=gateway.url, api_key=API_KEY)
    yield exporter
    majordomo_otel.uninstrument()


@pytest.fixture
def exporter(_instrumented: InMemorySpanExporter, gateway: FakeServer, other_host: FakeServer) -> InMemorySpanExporter:
    _instrumented.clear()
    gateway.requests.clear()
    other_host.requests.clear()
    return _instrumented
