"""A running gateway in front of a running stand-in provider, both over real loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from majordomo_otel.gateway.app import GATEWAY, Gateway, create_app, runner_options
from majordomo_otel.gateway.keys import create_key
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.settings import Settings
from majordomo_otel.sim import SimServer


def _load_tcp_proxy() -> type:
    """store/_tcp_proxy.py's TcpProxy (that folder is its own test package, not importable from here)."""
    path = Path(__file__).parent / "store" / "_tcp_proxy.py"
    spec = importlib.util.spec_from_file_location("_gateway_tcp_proxy", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TcpProxy


#: A TCP forwarder the tests can cut (or, subclassed, freeze) to take the real PostgreSQL away.
TcpProxy = _load_tcp_proxy()


class FreezableProxy(TcpProxy):  # type: ignore[misc,valid-type]
    """TcpProxy that can also *hang* the database: connections stay open, bytes stop flowing both ways
    (new connections too), like a server that stopped answering. `thaw()` delivers what was held back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self._flowing = asyncio.Event()
        self._flowing.set()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` served on a free loopback port for the block's duration; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def metric_points(data: MetricsData) -> Iterator[tuple[str, Any]]:
    """(metric name, data point) for every point of every metric in `data`."""
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    yield metric.name, point


class CapturedMetrics(MetricExporter):
    """A metric exporter that keeps what it was last sent: the gateway's metrics as an OTLP exporter
    would get them (the local histograms merged in), read after `flush` (or the gateway's shutdown)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: MetricsData | None = None

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        self.last = metrics_data
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        pass


@dataclass
class Harness:
    url: str
    key: str
    sim: SimServer
    gateway: Gateway
    spans: InMemorySpanExporter
    runner: web.AppRunner

    def metrics(self, captured: CapturedMetrics) -> MetricsData:
        """Collect and export the gateway's metrics now (into `captured`, given to `start_gateway`)."""
        assert self.gateway.meter_provider is not None
        self.gateway.meter_provider.force_flush()
        assert captured.last is not None
        return captured.last

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-Majordomo-Key": self.key, **extra}

    async def records(self, expected: int | None = None, wait: float = 10.0) -> list[RequestRecord]:
        """Every stored record, once the writer has flushed `expected` of them (if given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            await self.gateway.writer.flush()
            rows = await self.gateway.store.get_records()
            if expected is None or len(rows) >= expected or loop.time() > deadline:
                return rows
            await asyncio.sleep(0.02)


async def raw_post(url: str, path: str, head: bytes, body: bytes) -> int:
    """POST with header bytes exactly as given (no client library sends a raw 0xff); returns the status."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" + head + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    response = await reader.read()
    writer.close()
    return int(response.split(b" ", 2)[1])


async def start_gateway(
    settings: Settings,
    *,
    sim: SimServer,
    exporter: InMemorySpanExporter | None = None,
    metric_exporter: MetricExporter | None = None,
) -> Harness:
    exporter = exporter or InMemorySpanExporter()
    app = create_app(settings, span_exporter=exporter, metric_exporter=metric_exporter)
    runner = web.AppRunner(app, **runner_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gateway = app[GATEWAY]
    key, _ = await create_key(gateway.store, "tests")
    return Harness(f"http://127.0.0.1:{port}", key, sim, gateway, exporter, runner)


def sim_settings(sim: SimServer, database_url: str, spool_dir: Path, **overrides: object) -> Settings:
    base = Settings(
        database_url=database_url,
        openai_base_url=sim.url,
        anthropic_base_url=sim.url,
        gemini_base_url=sim.url,
        spool_dir=str(spool_dir),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]
