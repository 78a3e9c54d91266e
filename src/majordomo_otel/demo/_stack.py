"""A gateway in front of the local stand-in providers, in a background thread: no keys, no network.

`majordomo demo` and the runnable `examples/` use it so the same agent code runs offline. It is the
realistic path, only with the provider replaced: SQLite store, auth on with a freshly created key, real
HTTP over loopback, real gateway spans. Running it in its own thread and event loop keeps the gateway's
request handling out of the caller's context (tags, current span), as if it were another process.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ..gateway.app import GATEWAY, Gateway, create_app
from ..gateway.keys import create_key
from ..gateway.settings import Settings
from ..gateway.store import default_spool_dir
from ..sim import SimServer

__all__ = ["LocalStack", "TeeExporter", "local_stack", "patched_environ"]

T = TypeVar("T")

#: Provider keys the stand-in accepts (it checks none); real SDKs refuse to start without one.
SIM_PROVIDER_KEYS: Mapping[str, str] = {
    "OPENAI_API_KEY": "sk-sim-offline",
    "ANTHROPIC_API_KEY": "sk-ant-sim-offline",
    "GEMINI_API_KEY": "sim-offline",
}


class TeeExporter(SpanExporter):
    """Sends every batch to several exporters: in memory (to print a trace) and OTLP (to Jaeger)."""

    def __init__(self, *exporters: SpanExporter) -> None:
        self._exporters = exporters

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        results = []
        for exporter in self._exporters:
            try:
                results.append(exporter.export(spans))
            except Exception:
                results.append(SpanExportResult.FAILURE)
        ok = all(r is SpanExportResult.SUCCESS for r in results)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        for exporter in self._exporters:
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(exporter.force_flush(timeout_millis) for exporter in self._exporters)


@dataclass
class LocalStack:
    """A running stand-in + gateway. Blocking helpers run on the stack's own loop."""

    url: str
    key: str
    sim_url: str
    db_path: Path
    spans: InMemorySpanExporter
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _gateway: Gateway = field(repr=False)
    _sim: SimServer = field(repr=False)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def client_environ(self) -> dict[str, str]:
        """What a client needs to reach this gateway: `MAJORDOMO_*` plus stand-in provider keys."""
        return {"MAJORDOMO_GATEWAY_URL": self.url, "MAJORDOMO_API_KEY": self.key, **SIM_PROVIDER_KEYS}

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the stack's loop (store and writer live there) and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def flush(self) -> None:
        """Every record written to SQLite and every gateway span exported."""
        self.call(self._gateway.writer.flush())
        self._gateway.spans.force_flush()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.flush()
        return self.call(self._gateway.store.query(sql, params))

    @property
    def sim(self) -> SimServer:
        """The stand-in providers: what they received is in `sim.requests`."""
        return self._sim

    @property
    def store(self) -> Any:
        """The gateway's store; use it through `call()` (it belongs to the stack's loop)."""
        return self._gateway.store


async def _start(db_path: Path, exporter: SpanExporter) -> tuple[SimServer, web.AppRunner, str, str, Gateway]:
    sim = SimServer()
    await sim.start()
    settings = Settings(
        database_url=f"sqlite:///{db_path}",
        openai_base_url=sim.url,
        anthropic_base_url=sim.url,
        gemini_base_url=sim.url,
        spool_dir=str(default_spool_dir(f"sqlite:///{db_path}")),  # one per database: stacks may share a folder
    )
    app = create_app(settings, span_exporter=exporter)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    gateway = app[GATEWAY]
    key, _ = await create_key(gateway.store, "local-demo")
    return sim, runner, f"http://{host}:{port}", key, gateway


@contextmanager
def local_stack(db_path: Path, *, span_exporter: SpanExporter | None = None) -> Iterator[LocalStack]:
    """Stand-in providers and a gateway (SQLite at `db_path`, auth on) on free loopback ports.

    Gateway spans go to `stack.spans` (in memory) and to `span_exporter` too, if given.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    memory = InMemorySpanExporter()
    exporter: SpanExporter = TeeExporter(memory, span_exporter) if span_exporter else memory
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="majordomo-local-stack", daemon=True)
    thread.start()
    try:
        started = asyncio.run_coroutine_threadsafe(_start(db_path, exporter), loop).result(60)
        sim, runner, url, key, gateway = started
        try:
            yield LocalStack(url, key, sim.url, db_path, memory, loop, gateway, sim)
        finally:
            # Cleanup drains the record writer, so every record is in SQLite once we return.
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
            asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration, then restore the previous values."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
