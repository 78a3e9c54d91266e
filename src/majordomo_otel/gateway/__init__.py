"""The gateway: an OTel-aware proxy in front of the providers' own APIs that records what each request cost.

Per request (docs/architecture.md has the whole picture):

* `routes`: method + raw path + a few headers → provider (the `providers` table), operation, upstream path;
* `auth` / `keys`: the Majordomo key check, from an in-memory copy of the key table;
* `budgets`: refuse (or warn) before upstream when a budget the request falls under is spent;
* `upstream_auth` / `credentials` / `secret_box`: which provider key goes upstream (the client's, or one
  the gateway holds, stored encrypted);
* `request_body`: `model` and `stream` read without parsing the whole body; `stream_usage` asks an
  OpenAI-compatible stream for its usage and hides what that adds;
* `proxy`: the client's bytes upstream unchanged (`upstream_client`: the one provider session), the response
  back chunk by chunk (`headers` decides which headers cross), teed into a usage reader; `errors` shapes
  the gateway's own errors per provider;
* `usage`: tokens from JSON bodies and SSE streams, one reader per API family (`json_parse`: what
  `json.loads` returns, through orjson where it reads the same);
* `pricing` (genai-prices) and `custom_prices` (the config's `[prices]`): the cost;
* `record` / `storable`: the `RequestRecord`, its text made valid for both stores;
* `store`: journal, bounded queue, batches to SQLite or PostgreSQL, spool while the database is away;
* `span_plan` / `spans` / `otlp`: the same record as the gateway's spans in the caller's trace, encoded
  and exported off the serving path; `metrics`: counters and histograms (`histograms`: summed here,
  merged into each export).

`app` builds the aiohttp application, `serve` runs it, `workers` supervises N of it on one port (each
with its own spool slot, `spool_slots`), `settings` holds every setting once; `credentials_cli` is
`majordomo credentials`.
Imports are lazy so that importing `majordomo_otel.gateway.settings` (the CLI does) pulls in no aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .serve import serve
    from .settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings", "serve"]

_HOMES = {"create_app": "app", "serve": "serve", "Settings": "settings", "load_settings": "settings"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
