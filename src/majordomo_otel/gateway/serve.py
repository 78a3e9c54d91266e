"""Run the gateway until SIGINT/SIGTERM; shutdown drains the record writer before exit."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .app import create_app, runner_options
from .settings import Settings

log = logging.getLogger("majordomo.gateway")


def _event_loop_factory() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the gateway extra, optional elsewhere
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(settings: Settings) -> None:
    app = create_app(settings)
    log.info(
        "majordomo gateway on http://%s:%s (store %s)",
        settings.host,
        settings.port,
        settings.database_url.split("@")[-1],
    )
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        **runner_options(settings),
        shutdown_timeout=30,
        loop=_event_loop_factory(),
        print=None,
    )
