"""The aiohttp application: wires settings, store, writer, upstream client, spans and the proxy.

aiohttp on both sides (server and upstream client) because the upstream client and its pool
decide most of a proxy's overhead: see bench/ for the measurements behind the choice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from .. import wire
from .._redact import hide_password, redact_url
from .._tasks import stop_task
from .auth import Authenticator
from .budgets import Budgets
from .budgets._metrics import observe_budgets
from .credentials import ProviderCredentials
from .custom_prices import CustomPrices
from .keys import KeyCache
from .metrics import SCOPE, GatewayMetrics, NoMetrics, build_meter_provider, duration_histograms
from .otlp.queue import ExportStats
from .pricing import Pricer
from .providers import ProviderTable
from .proxy import Proxy
from .routes import PLAIN_PATHS
from .secret_box import load_secret_box
from .settings import Settings
from .spans import GatewaySpans, build_span_pipeline
from .store import RecordWriter, Store, default_spool_dir, open_store
from .store._partitions import keep_months_ahead
from .upstream_client import upstream_session
from .usage._budget import set_buffer_cap

log = logging.getLogger("majordomo_otel.gateway")


@dataclass(slots=True)
class Gateway:
    """Everything one running gateway holds; kept on the app as `app[GATEWAY]`."""

    settings: Settings
    store: Store
    writer: RecordWriter
    keys: KeyCache
    spans: GatewaySpans
    export_stats: ExportStats
    meter_provider: MeterProvider | None
    providers: ProviderTable
    credentials: ProviderCredentials
    budgets: Budgets
    session: aiohttp.ClientSession | None = None


GATEWAY = web.AppKey("gateway", Gateway)


def create_app(
    settings: Settings, *, span_exporter: SpanExporter | None = None, metric_exporter: MetricExporter | None = None
) -> web.Application:
    """Build the app. The store opens (and migrates) on startup; shutdown drains the writer."""
    store = open_store(settings.database_url)
    writer = RecordWriter(
        store,
        spool_dir=settings.spool_dir or default_spool_dir(settings.database_url),
        journal=settings.journal,
        journal_fsync=settings.journal_fsync,
    )
    keys = KeyCache(store, ttl=settings.key_cache_ttl)
    span_output, export_stats = build_span_pipeline(exporter=span_exporter)
    table = ProviderTable.build(settings.base_urls(), settings.providers)
    pricer = Pricer({p.name: p.price_id for p in table if p.price_id}, CustomPrices(settings.prices))
    set_buffer_cap(settings.usage_buffer_bytes)
    spans = GatewaySpans(span_output, settings.span_usage, {p.name: p.otel_name for p in table})
    histograms = duration_histograms()
    meter_provider = build_meter_provider(histograms, exporter=metric_exporter)
    credentials = ProviderCredentials(table, store, load_secret_box(), ttl=settings.key_cache_ttl)
    budgets = Budgets(store, interval=settings.budget_refresh_interval, state_dir=writer.spool.directory)
    if meter_provider is not None:
        observe_budgets(meter_provider.get_meter(SCOPE.name), budgets)
    gateway = Gateway(settings, store, writer, keys, spans, export_stats, meter_provider, table, credentials, budgets)

    # auto_decompress off: request bodies go upstream as sent, gzip still gzip (request_body.py reads
    # them); in handler_args so that every runner (run_app, the tests' AppRunner) serves it so.
    app = web.Application(
        client_max_size=settings.max_body_bytes, handler_args={"max_field_size": 65536, "auto_decompress": False}
    )
    app[GATEWAY] = gateway
    proxy = Proxy(
        settings,
        session=lambda: _session(gateway),
        writer=writer,
        authenticator=Authenticator(keys),
        pricer=pricer,
        spans=spans,
        table=table,
        credentials=credentials,
        budgets=budgets,
        metrics=(
            GatewayMetrics(meter_provider.get_meter(SCOPE.name), histograms, {p.name: p.otel_name for p in table})
            if meter_provider is not None
            else NoMetrics()
        ),
    )
    app.router.add_get("/health", _health)
    app.router.add_get("/readyz", _readyz)
    # Known paths as plain routes (a dict lookup in aiohttp), Gemini's templated paths and 404s last.
    for path in PLAIN_PATHS:
        app.router.add_route("*", path, proxy.handle)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    app.cleanup_ctx.append(_lifecycle)
    return app


class _AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string: Gemini keys travel as `?key=`), status, size, time.

    The path as sent, still percent-encoded and masked: decoded, a `%3Fkey=` would print as `?key=`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.1fms %s",
            request.remote,
            request.method,
            redact_url(request.rel_url.raw_path),
            response.status,
            time * 1000,
            response.headers.get(wire.REQUEST_ID, "-"),
        )


def runner_options(settings: Settings) -> dict[str, Any]:
    """How the app must be served (by `serve()` and by tests alike).

    `handler_cancellation` lets a client disconnect cancel the handler, which closes the upstream
    call; the access logger never prints query strings, where Gemini keys travel (`?key=`).
    """
    return {
        "handler_cancellation": True,
        "access_log": logging.getLogger("majordomo_otel.gateway.access") if settings.access_log else None,
        "access_log_class": _AccessLogger,
    }


def _session(gateway: Gateway) -> aiohttp.ClientSession:
    assert gateway.session is not None, "gateway not started"
    return gateway.session


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    settings = gateway.settings
    await gateway.store.open()
    migrating = await _migrate_or_retry_later(gateway)
    # PostgreSQL: the coming months' partitions, every hour (migrate made them at start); nothing on SQLite.
    upkeep = asyncio.get_running_loop().create_task(keep_months_ahead(gateway.store), name="majordomo-partitions")
    await gateway.writer.start()
    await gateway.credentials.start()
    await gateway.budgets.start()
    gateway.session = upstream_session(settings)
    if not settings.auth:
        log.warning("AUTH IS OFF (--no-auth): anyone who can reach %s:%s can use it", settings.host, settings.port)
    try:
        yield
    finally:
        await stop_task(migrating)
        await stop_task(upkeep)
        await gateway.session.close()
        await gateway.credentials.close()
        await gateway.writer.close()
        _log_records_kept(gateway)
        await gateway.budgets.close()
        await gateway.keys.close()
        await gateway.store.close()
        gateway.spans.shutdown()
        if gateway.meter_provider is not None:
            gateway.meter_provider.shutdown()


def _log_records_kept(gateway: Gateway) -> None:
    """The last word on records at shutdown: how many reached the store, and where any others wait."""
    stats = gateway.writer.stats()
    line = f"records: {stats['records_written']} written to {hide_password(gateway.settings.database_url)}"
    if stats["spool_depth"]:
        line += f"; {stats['spool_depth']} in the spool {gateway.writer.spool.directory} (replayed at next start)"
    if stats["records_rejected"]:
        line += f"; {stats['records_rejected']} refused by the store, kept for `majordomo records` in the spool folder"
    if stats["stranded"]:
        log.error("%s; %d could be kept nowhere (store and spool failing)", line, stats["stranded"])
    else:
        log.info("%s", line)


async def _migrate_or_retry_later(gateway: Gateway) -> asyncio.Task[None] | None:
    """Create the schema on start, as `majordomo migrate` does; a database that is down must not
    stop the gateway from serving (records wait in the spool), so retry in the background."""
    try:
        await gateway.store.migrate()
        return None
    except Exception as exc:
        log.warning("database unavailable at start (%s); serving anyway, records spool until it returns", exc)

    async def retry() -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                await gateway.store.migrate()
            except Exception:
                delay = min(delay * 2, 30.0)
                continue
            log.info("database reachable again: schema ready")
            return

    return asyncio.get_running_loop().create_task(retry(), name="majordomo-migrate-retry")


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Ready means "can take traffic and keep its records", which a database outage alone does not change.

    With the store down the gateway still serves and records go to the spool: `degraded`, but 200, so
    a load balancer does not pull every replica at once during a database outage. 503 (`failing`) when
    records could not be kept: the writer is not running, or it refuses work, or the store is down (or
    answers but its writes fail) and the spool does not take an actual write. Counts and states only:
    never a record's contents.
    """
    gateway = request.app[GATEWAY]
    reachable, spool_ok = await asyncio.gather(_ping(gateway.store), gateway.writer.spool_writable())
    writer = gateway.writer.stats()
    store_ok = reachable and writer["store_ok"]  # a database that answers but refuses writes (disk full) is not ok
    keeping = writer["alive"] and writer["accepting"] and (store_ok or spool_ok)
    body: dict[str, Any] = {
        "status": "failing" if not keeping else ("ok" if store_ok else "degraded"),
        "store": {"ok": store_ok, "reachable": reachable, "url": hide_password(gateway.settings.database_url)},
        "spool": {"writable": spool_ok, "path": str(gateway.writer.spool.directory)},
        "writer": writer,
        "spans": gateway.export_stats.snapshot(),
        "budgets": gateway.budgets.stats(),
    }
    return web.json_response(body, status=200 if keeping else 503)


async def _ping(store: Store, timeout: float = 1.0) -> bool:  # noqa: ASYNC109 - a hung database must not hang /readyz
    try:
        async with asyncio.timeout(timeout):
            return await store.ping()
    except Exception:
        return False
