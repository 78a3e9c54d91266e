"""aiohttp under `instrument()` twice, `uninstrument()` and `instrument()` again, and without aiohttp at all:
each in a fresh interpreter, since instrumentation is process-global."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_PRELUDE = """
import asyncio, json
import majordomo_otel
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from majordomo_otel.sim import SimServer

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

def sent(server):
    # the X-Majordomo-* and traceparent headers of the last request, a name sent twice listed twice
    names = (name.lower() for name, _ in server.requests[-1].headers)
    return sorted(name for name in names if name.startswith(("x-majordomo-", "traceparent")))

def client_spans():
    spans = [s.name for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    exporter.clear()
    return spans
"""

_LIFECYCLE = """
import aiohttp

async def get(url, headers=None):
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        await response.read()

with SimServer.in_thread() as gateway, SimServer.in_thread() as other:
    seen = {}
    majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")
    majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")
    with majordomo_otel.tags(feature="twice"):
        asyncio.run(get(gateway.url))
    seen["instrumented twice, gateway"] = [sent(gateway), client_spans()]
    majordomo_otel.uninstrument()
    asyncio.run(get(other.url, {"X-Majordomo-Feature": "f"}))
    seen["uninstrumented, other host"] = [sent(other), client_spans()]
    majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")
    asyncio.run(get(other.url, {"X-Majordomo-Feature": "f"}))
    seen["instrumented again, other host"] = [sent(other), client_spans()]
print(json.dumps(seen))
"""

_WITHOUT_AIOHTTP = """
import sys
import httpx2

with SimServer.in_thread() as gateway:  # the stand-in itself runs on aiohttp: hide it only now
    sys.modules["aiohttp"] = None
    majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")
    with majordomo_otel.tags(feature="no-aiohttp"):
        httpx2.get(gateway.url)
    print(json.dumps([sent(gateway), client_spans()]))
"""


def _run(script: str) -> object:
    code = textwrap.dedent(_PRELUDE) + textwrap.dedent(script)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_instrument_twice_uninstrument_and_again() -> None:
    assert _run(_LIFECYCLE) == {
        "instrumented twice, gateway": [["traceparent", "x-majordomo-feature", "x-majordomo-key"], ["GET"]],
        "uninstrumented, other host": [["x-majordomo-feature"], []],
        "instrumented again, other host": [["traceparent"], ["GET"]],
    }


def test_without_aiohttp_httpx_is_still_instrumented_and_scoped() -> None:
    assert _run(_WITHOUT_AIOHTTP) == [["traceparent", "x-majordomo-feature", "x-majordomo-key"], ["GET"]]
