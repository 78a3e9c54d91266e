"""Client settings, read from the environment each time they are asked for.

Reading lazily (not at import) lets `opentelemetry-instrument` and tests set variables late.
"""

from __future__ import annotations

import os
from typing import Final
from urllib.parse import urlsplit

DEFAULT_GATEWAY_URL: Final = "http://localhost:7680"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})

Origin = tuple[str, str, int]


def gateway_urls() -> list[str]:
    """`MAJORDOMO_GATEWAY_URL`, a comma-separated list; the first entry is where helpers send."""
    raw = os.environ.get("MAJORDOMO_GATEWAY_URL", "") or DEFAULT_GATEWAY_URL
    return [part.strip().rstrip("/") for part in raw.split(",") if part.strip()]


def api_key() -> str | None:
    return os.environ.get("MAJORDOMO_API_KEY") or None


def anthropic_sdk_spans() -> bool:
    """`MAJORDOMO_ANTHROPIC_SDK_SPANS=on` keeps the Anthropic SDK's own spans (they double-count usage)."""
    return os.environ.get("MAJORDOMO_ANTHROPIC_SDK_SPANS", "off").lower() in {"1", "on", "true", "yes"}


def origin(scheme: str, host: str, port: int | None) -> Origin:
    """(scheme, host, port), lower-cased, default port filled in: what "same gateway" means.

    The loopback names are one host: `MAJORDOMO_GATEWAY_URL=http://localhost:7680` and a client
    pointed at `http://127.0.0.1:7680` (or `[::1]`) reach the same local gateway.
    """
    scheme = scheme.lower()
    host = host.lower()
    if host in _LOOPBACK_NAMES:
        host = "localhost"
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def origin_of(url: str) -> Origin:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return origin(parts.scheme, parts.hostname or "", parts.port)
