"""Whose key a request carries, and whose key goes upstream.

A client authenticates to the gateway with its Majordomo key (`mdm_sk_…`), either in `X-Majordomo-Key` or
where its provider SDK puts the provider key (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
Azure's `api-key`, Gemini's `?key=`): then a plain SDK needs only `base_url` and `api_key`, and Pydantic
AI's `gateway/...` models work unchanged. A Majordomo key never goes upstream: the gateway sends the
provider key it holds (credentials.py) in the provider's own header instead. A real provider key the client
sends passes through as before, unless the operator forbids that (`client_provider_keys off`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .. import wire
from .keys import KEY_PREFIX
from .providers import Provider

MAJORDOMO_KEY_HEADER: Final = wire.KEY
#: Where provider SDKs put their key, lowercase, in the order a client's own key is looked for; a Majordomo
#: key found in one of them is ours, not theirs.
_AUTH_SLOTS: Final = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
PROVIDER_AUTH_HEADERS: Final = frozenset(_AUTH_SLOTS)
_QUERY_KEY: Final = "key"  # Gemini's ?key=
_BEARER: Final = "bearer "


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    majordomo_key: str | None  # `X-Majordomo-Key`, else a Majordomo key in a provider slot
    #: a Majordomo key sat where the SDK puts the provider key: it must be removed before going upstream
    in_provider_slot: bool
    provider_key: str | None  # a provider key of the client's own (pass-through), if any


def _unbearer(value: str) -> str:
    return value[7:] if value[:7].lower() == _BEARER else value


def read_client_credentials(headers: Mapping[str, str], query: Mapping[str, str]) -> ClientCredentials:
    """What the client sent, from headers (case-insensitive mapping) and the decoded query."""
    ours = headers.get(MAJORDOMO_KEY_HEADER) or None
    in_slot = None
    theirs = None
    for name in _AUTH_SLOTS:
        if (value := headers.get(name)) is None:
            continue
        value = _unbearer(value.strip())
        if value.startswith(KEY_PREFIX):
            in_slot = in_slot or value
        elif theirs is None and value:
            theirs = value
    if (value := query.get(_QUERY_KEY)) is not None:
        if value.startswith(KEY_PREFIX):
            in_slot = in_slot or value
        elif theirs is None and value:
            theirs = value
    return ClientCredentials(ours or in_slot, in_slot is not None, theirs)


def without_client_keys(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream headers minus every provider auth header (the gateway's key replaces them)."""
    return [(k, v) for k, v in headers if k.lower() not in PROVIDER_AUTH_HEADERS]


def without_majordomo_keys(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream headers minus any provider auth header that carries a Majordomo key."""
    return [
        (k, v)
        for k, v in headers
        if not (k.lower() in PROVIDER_AUTH_HEADERS and _unbearer(v.strip()).startswith(KEY_PREFIX))
    ]


def strip_majordomo_query_key(raw_query: str) -> str:
    """A raw query string without a `key=` that carries a Majordomo key (it must not go upstream)."""
    if KEY_PREFIX not in raw_query:
        return raw_query
    kept = []
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        if not (name == _QUERY_KEY and value.startswith(KEY_PREFIX)):
            kept.append(part)
    return "&".join(kept)


def provider_auth_header(provider: Provider, key: str) -> tuple[str, str]:
    """The header that carries `key` to `provider`, as its own SDK sends it."""
    header = provider.key_header
    return (header, f"Bearer {key}") if header == "authorization" else (header, key)
