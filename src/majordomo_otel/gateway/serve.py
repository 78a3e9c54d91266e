"""Run the gateway as one process until SIGINT/SIGTERM; shutdown drains the record writer before exit.

`--workers N` runs N of these under a supervisor instead (workers.py); both log alike and start the same app.
"""

from __future__ import annotations

import asyncio
import logging

from .._otlp import export_target
from .._redact import hide_password
from .providers import ProviderTable
from .settings import Settings
from .spool_slots import merge_unused_slots, spool_root

log = logging.getLogger("majordomo_otel.gateway")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: seconds a stopping gateway gives requests in flight (streams included) before it closes them
SHUTDOWN_TIMEOUT = 30.0


def configure_logging(level: str, *, worker: int | None = None) -> None:
    """The gateway's log format; a worker's lines name it (`majordomo_otel.gateway[worker 2]`)."""
    fmt = LOG_FORMAT if worker is None else LOG_FORMAT.replace("%(name)s", f"%(name)s[worker {worker}]")
    logging.basicConfig(level=level.upper(), format=fmt)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the gateway extra has it): the cheaper event loop, measured in bench/."""
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
    workers = f"{settings.workers} worker processes; " if settings.workers > 1 else ""
    address = f"http://{settings.host}:{settings.port}"
    return (
        f"majordomo gateway on {address} (clients: MAJORDOMO_GATEWAY_URL={address}); {workers}"
        f"store {hide_password(settings.database_url)}; upstreams {upstreams}"
        f" (+{presets} more by /<provider>/ prefix); auth {'on' if settings.auth else 'OFF'}; "
        f"spans {export_target('TRACES')}; metrics {export_target('METRICS')}"
    )


def serve(settings: Settings) -> None:
    # Here, not at the top: the `--workers` parent imports this module and serves nothing itself (the
    # serving stack takes about a second to import, genai-prices most of it).
    from aiohttp import web

    from .app import GATEWAY, create_app, runner_options
    from .heap import settle_on_startup

    merge_unused_slots(spool_root(settings), 1)  # an earlier `--workers N` run's other spools: replayed here
    app = create_app(settings)
    app.on_startup.append(settle_on_startup)
    log.info("%s", start_line(settings, app[GATEWAY].providers))
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        **runner_options(settings),
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        loop=new_event_loop(),
        print=None,
    )
