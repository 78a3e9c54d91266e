"""Gateway authentication: `X-Majordomo-Key` checked against stored SHA-256 hashes.

The check runs on every request, so it goes through `KeyCache` (no database round trip on a
hit). Revocation through the same cache is immediate; other processes see it within the cache TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from .keys import KeyCache, KeyStoreUnavailable, hash_key


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    ok: bool
    key_id: str | None = None
    reason: str = ""
    status: int = 401


_MISSING = AuthOutcome(False, reason="missing X-Majordomo-Key header (create a key with `majordomo keys create`)")
_INVALID = AuthOutcome(False, reason="invalid or revoked X-Majordomo-Key")
# Fail closed: a key never seen before cannot be checked while the database is down.
_UNAVAILABLE = AuthOutcome(False, reason="key store unavailable; retry shortly", status=503)


class Authenticator:
    def __init__(self, cache: KeyCache) -> None:
        self._cache = cache

    async def check(self, key: str | None) -> AuthOutcome:
        if not key:
            return _MISSING
        if not key.startswith("mdm_sk_"):
            return _INVALID
        try:
            info = await self._cache.lookup(hash_key(key))
        except KeyStoreUnavailable:
            return _UNAVAILABLE
        if info is None:
            return _INVALID
        return AuthOutcome(True, key_id=info.id)
