"""Run the gateway until SIGINT/SIGTERM; shutdown drains the record writer before exit."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .app import create_app
from .settings import Settings

log = logging.getLogger("majordomo.gateway")


class _AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string: Gemini keys travel as `?key=`), status, size, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.1fms %s",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
            response.headers.get("X-Majordomo-Request-Id", "-"),
        )


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
        access_log=logging.getLogger("majordomo.access") if settings.access_log else None,
        access_log_class=_AccessLogger,
        handler_cancellation=True,
        shutdown_timeout=30,
        loop=_event_loop_factory(),
        print=None,
    )
