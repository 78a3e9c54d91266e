"""Client settings, read from the environment each time they are asked for.

Reading lazily (not at import) lets `opentelemetry-instrument` and tests set variables late.
"""

from __future__ import annotations

import os
from typing import Final
from urllib.parse import urlsplit

DEFAULT_GATEWAY_URL: Final = "http://localhost:7680"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

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


def origin_of(url: str) -> Origin:
    """(scheme, host, port) with the default port filled in: what "same gateway" means."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    return scheme, host, parts.port or _DEFAULT_PORTS.get(scheme, 0)
