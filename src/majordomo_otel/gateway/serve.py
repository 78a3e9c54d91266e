"""Run the gateway until SIGINT/SIGTERM; shutdown drains the record writer before exit."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .._otlp import export_target
from .._redact import hide_password
from .app import GATEWAY, create_app, runner_options
from .providers import ProviderTable
from .settings import Settings

log = logging.getLogger("majordomo.gateway")


def _event_loop_factory() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the gateway extra, optional elsewhere
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def start_line(settings: Settings, table: ProviderTable) -> str:
    """What a person starting the gateway needs to see once: where to point clients, where records and
    spans go, which upstreams (`table`, the app's own), whether auth is on. No password."""
    upstreams = ", ".join(f"{p.name} {p.base_url}" for p in table if p.configured and not p.preset)
    presets = sum(1 for p in table if p.configured and p.preset)
    return (
        f"majordomo gateway on http://{settings.host}:{settings.port} (clients: MAJORDOMO_GATEWAY_URL=http://"
        f"{settings.host}:{settings.port}); store {hide_password(settings.database_url)}; upstreams {upstreams}"
        f" (+{presets} more by /<provider>/ prefix); auth {'on' if settings.auth else 'OFF'}; "
        f"spans {export_target('TRACES')}; metrics {export_target('METRICS')}"
    )


def serve(settings: Settings) -> None:
    app = create_app(settings)
    log.info("%s", start_line(settings, app[GATEWAY].providers))
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        **runner_options(settings),
        shutdown_timeout=30,
        loop=_event_loop_factory(),
        print=None,
    )
