"""Gateway authentication: `X-Majordomo-Key` checked against stored SHA-256 hashes.

The check runs on every request, so it answers from `KeyCache`'s in-memory table and never waits on the
database longer than the cache's deadline (0.5 s). A malformed key is refused before any lookup.
Revocation through the same cache is immediate; other processes see it within the cache TTL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import wire
from .keys import KeyCache, KeyStoreUnavailable, hash_key, is_well_formed


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    ok: bool
    key_id: str | None = None
    key_name: str | None = None  # the key's name (`majordomo keys create NAME`): budgets scope on it
    reason: str = ""
    status: int = 401


_MISSING = (
    f"missing Majordomo key: send it as {wire.KEY}, or as the provider SDK's api_key. majordomo_otel sends "
    "it only to the origins in MAJORDOMO_GATEWAY_URL (scheme, host and port must match; localhost, "
    "127.0.0.1 and ::1 count as one host): set MAJORDOMO_GATEWAY_URL={origin} and MAJORDOMO_API_KEY "
    "(create a key with `majordomo keys create NAME`)"
)
# Never echoes the key: it may be a provider key sent in the wrong header.
_MALFORMED = AuthOutcome(False, reason=f"malformed {wire.KEY}")
_INVALID = AuthOutcome(False, reason=f"invalid or revoked {wire.KEY}")
# Fail closed: a key not in the table cannot be checked while the database does not answer.
_UNAVAILABLE = AuthOutcome(False, reason="key store unavailable; retry shortly", status=503)


class Authenticator:
    def __init__(self, cache: KeyCache) -> None:
        self._cache = cache

    async def check(
        self, key: str | None, *, origin: Callable[[], str] = lambda: "<this gateway's URL>"
    ) -> AuthOutcome:
        """`origin()` is how the client reached this gateway, so a missing key can say where to send it (asked
        only then: it reads the request's Host)."""
        if not key:
            return AuthOutcome(False, reason=_MISSING.format(origin=origin()))
        if not is_well_formed(key):
            return _MALFORMED
        try:
            info = await self._cache.lookup(hash_key(key))
        except KeyStoreUnavailable:
            return _UNAVAILABLE
        if info is None:
            return _INVALID
        return AuthOutcome(True, key_id=info.id, key_name=info.name)
