"""Gateway settings: every one has a flag, an environment variable and a config-file key.

Precedence: command-line flag > environment variable > config file (`--config` or `MAJORDOMO_CONFIG`,
TOML, keys as in the table below, top level or under `[gateway]`) > default. Two tables live only in
the config file: `[providers.NAME]` (providers.py) and `[prices."MODEL"]` (custom_prices.py).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from .. import wire
from .providers import ANTHROPIC, GEMINI, GEMINI_OPENAI, OPENAI


class SpanUsagePolicy(StrEnum):
    """When the gateway span carries the standard `gen_ai.usage.*` and `operation.cost` attributes.

    Pydantic AI's `chat` span already carries them, so a backend that sums spans would count a
    request twice if the gateway span did too (Envoy AI Gateway's early bug). `auto` adds them only
    when the caller sent no trace context; `majordomo.usage.*` / `majordomo.cost.*` are always there.
    """

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _setting(env: str, help: str, **kw: Any) -> Any:
    return field(metadata={"env": env, "help": help}, **kw)


def _config_table(help: str) -> Any:
    """A table only the config file sets (no flag, no environment variable)."""
    return field(default_factory=dict, metadata={"config_only": True, "help": help}, hash=False, compare=True)


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = _setting("MAJORDOMO_HOST", "listen address", default="127.0.0.1")
    port: int = _setting("MAJORDOMO_PORT", "listen port", default=7680)
    workers: WorkerCount = _setting(  # noqa: RUF009 - a field() with metadata
        "MAJORDOMO_WORKERS",
        "worker processes sharing the port (SO_REUSEPORT), each with its own journal and spool; auto = one per core",
        default=1,
    )
    database_url: str = _setting(
        "MAJORDOMO_DATABASE_URL", "sqlite:///path or postgresql://...", default="sqlite:///./majordomo.db"
    )
    openai_base_url: str = _setting(
        "MAJORDOMO_OPENAI_BASE_URL", "upstream for OpenAI routes", default="https://api.openai.com"
    )
    anthropic_base_url: str = _setting(
        "MAJORDOMO_ANTHROPIC_BASE_URL", "upstream for Anthropic routes", default="https://api.anthropic.com"
    )
    gemini_base_url: str = _setting(
        "MAJORDOMO_GEMINI_BASE_URL",
        "upstream for Gemini routes",
        default="https://generativelanguage.googleapis.com",
    )
    auth: bool = _setting(
        "MAJORDOMO_AUTH", f"require a Majordomo key ({wire.KEY}, or as the SDK's api_key) (on/off)", default=True
    )
    client_provider_keys: bool = _setting(
        "MAJORDOMO_CLIENT_PROVIDER_KEYS",
        "pass provider keys sent by clients through; off: only the gateway's own keys go upstream (on/off)",
        default=True,
    )
    spool_dir: str | None = _setting(
        "MAJORDOMO_SPOOL_DIR", "where records wait while the database is away", default=None
    )
    journal: bool = _setting(
        "MAJORDOMO_JOURNAL",
        "write each record to a local journal before its response ends, so SIGKILL loses none (on/off)",
        default=True,
    )
    journal_fsync: bool = _setting(
        "MAJORDOMO_JOURNAL_FSYNC",
        "fsync the journal before a response ends: survives power loss too, costs a disk flush per batch (on/off)",
        default=False,
    )
    max_body_bytes: int = _setting(
        "MAJORDOMO_MAX_BODY_BYTES", "largest request body accepted (413 beyond)", default=32 * 1024 * 1024
    )
    upstream_connect_timeout: float = _setting(
        "MAJORDOMO_UPSTREAM_CONNECT_TIMEOUT", "seconds to connect upstream (502 beyond)", default=10.0
    )
    upstream_timeout: float = _setting(
        "MAJORDOMO_UPSTREAM_TIMEOUT",
        "seconds to wait for upstream response headers, and between body chunks (504 beyond)",
        default=600.0,
    )
    key_cache_ttl: float = _setting(
        "MAJORDOMO_KEY_CACHE_TTL",
        "seconds another process may keep trusting a revoked key (revocation here is immediate)",
        default=5.0,
    )
    budget_refresh_interval: float = _setting(
        "MAJORDOMO_BUDGET_REFRESH_INTERVAL",
        "seconds between budget syncs: this replica's spend flushed, the others' read, new budgets applied "
        "(overshoot grows with it)",
        default=1.0,
    )
    span_usage: SpanUsagePolicy = _setting(  # noqa: RUF009 - a field() with metadata
        "MAJORDOMO_SPAN_USAGE",
        "standard gen_ai.usage.*/operation.cost on the gateway span: auto|always|never",
        default=SpanUsagePolicy.AUTO,
    )
    stream_usage: bool = _setting(
        "MAJORDOMO_STREAM_USAGE",
        "ask OpenAI-compatible chat streams for usage when the client did not, and hide what that adds (on/off)",
        default=True,
    )
    usage_buffer_bytes: int = _setting(
        "MAJORDOMO_USAGE_BUFFER_BYTES",
        "bytes all usage readers may buffer together (beyond: usage too large to read; bytes still pass)",
        default=256 * 1024 * 1024,
    )
    log_level: str = _setting("MAJORDOMO_LOG_LEVEL", "logging level", default="INFO")
    access_log: bool = _setting("MAJORDOMO_ACCESS_LOG", "one log line per request (on/off)", default=False)
    providers: Mapping[str, Mapping[str, Any]] = _config_table("[providers.NAME]: providers of your own")
    prices: Mapping[str, Mapping[str, Any]] = _config_table("[prices.MODEL]: prices genai-prices does not have")

    def base_urls(self) -> dict[str, str]:
        """The built-in providers' upstream settings, by provider name (the provider table's keys)."""
        return {
            OPENAI.name: self.openai_base_url,
            ANTHROPIC.name: self.anthropic_base_url,
            GEMINI.name: self.gemini_base_url,
            GEMINI_OPENAI.name: self.gemini_base_url,
        }


#: `--workers`: a count, or `auto`; held as the count (`worker_count`).
WorkerCount = int


def worker_count(raw: Any) -> int:
    """`auto` = the cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    if str(raw).strip().lower() == "auto":
        return len(os.sched_getaffinity(0))
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"setting workers: expected a number of processes (1 or more) or auto, got {raw!r}")
    return count


def _coerce(name: str, typ: str, raw: Any) -> Any:
    """A config-file, environment or flag value as the setting's type (`typ` is its annotation)."""
    if isinstance(raw, str):
        raw = raw.strip()
    if typ == "bool":
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).lower()
        if lowered in {"1", "on", "true", "yes"}:
            return True
        if lowered in {"0", "off", "false", "no"}:
            return False
        raise ValueError(f"setting {name}: expected on/off, got {raw!r}")
    if typ == "WorkerCount":
        return worker_count(raw)
    if typ == "int":
        return int(raw)
    if typ == "float":
        return float(raw)
    if typ == "SpanUsagePolicy":
        return SpanUsagePolicy(raw)
    return str(raw)


def _type_of(f: Any) -> str:
    """The annotation without `| None` (a string: this module has postponed annotations)."""
    return str(f.type).replace(" | None", "")


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Merge defaults, config file, environment and flags (flags win). `None` flags are ignored."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    values: dict[str, Any] = {}
    path = flags.pop("config", None) or config_file or environ.get("MAJORDOMO_CONFIG")
    tables: dict[str, Any] = {}
    if path:
        data = tomllib.loads(Path(path).read_text())
        section = data.get("gateway", data)
        known = {f.name for f in fields(Settings)}
        unknown = set(section) - known - {"gateway"}
        if unknown:
            raise ValueError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in section.items() if k in known and k not in _TABLES})
        for name in _TABLES:  # top level, or under [gateway]
            table = section.get(name, data.get(name, {}))
            if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
                raise ValueError(f"{path}: [{name}] must hold tables ([{name}.NAME])")
            tables[name] = table
    for f in _flagged():
        env = f.metadata["env"]
        if env in environ and environ[env] != "":
            values[f.name] = environ[env]
    values.update({k: v for k, v in flags.items() if k in {f.name for f in _flagged()}})
    coerced = {f.name: _coerce(f.name, _type_of(f), values[f.name]) for f in _flagged() if f.name in values}
    return replace(Settings(), **coerced, **tables)


def _flagged() -> list[Any]:
    """The settings with a flag and an environment variable (all but the config-only tables)."""
    return [f for f in fields(Settings) if not f.metadata.get("config_only")]


_TABLES = frozenset(f.name for f in fields(Settings) if f.metadata.get("config_only"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per setting, named after it (`--database-url`), plus `--no-auth` and `--config`."""
    parser.add_argument("--config", help="TOML config file (env MAJORDOMO_CONFIG)")
    for f in _flagged():
        flag = "--" + f.name.replace("_", "-")
        typ = _type_of(f)
        if typ == "bool":
            parser.add_argument(flag, dest=f.name, default=None, metavar="on|off", help=_help(f))
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=_help(f))
    parser.add_argument(
        "--no-auth", dest="auth", action="store_const", const="off", help=f"no {wire.KEY} (local development)"
    )


def _help(f: Any) -> str:
    default = f.default if f.default is not None else "(derived)"
    return f"{f.metadata['help']} [env {f.metadata['env']}; default {default}]"


def settings_table() -> Sequence[tuple[str, str, str, str]]:
    """(flag, env, default, meaning) rows, for the README and `majordomo gateway --help`."""
    return [
        ("--" + f.name.replace("_", "-"), f.metadata["env"], str(f.default), f.metadata["help"]) for f in _flagged()
    ]
