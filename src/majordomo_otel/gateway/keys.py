"""Majordomo API keys: `mdm_sk_…` secrets of which only a sha256 hash and a 4-char hint are stored.

`KeyCache` answers "is this key valid?" from memory so auth costs no database round trip per request.
Bounds on staleness:

* in the process that revokes a key through `KeyCache.revoke`, the key is rejected immediately;
* in every other process (other gateway replicas, or a gateway when the `majordomo keys` CLI revokes),
  a revoked key is accepted for at most `ttl` seconds (default 5 s), and a newly created key is
  rejected for at most `negative_ttl` seconds (default: `ttl`) if it was tried just before creation;
* while the database is unreachable, a key that was valid stays valid for `stale_if_error` seconds
  (default 300 s) past its TTL, so requests keep flowing through an outage; unknown keys fail with
  `KeyStoreUnavailable` (the gateway answers 503), never silently pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from majordomo_otel.gateway.store import ApiKey, Store

KEY_PREFIX = "mdm_sk_"
PROVIDER_KEY_HASH_CHARS = 16


def generate_key() -> str:
    """`mdm_sk_` + 43 url-safe random characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """sha256 hex of the full key: what the database stores and auth looks up."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_hint(key: str) -> str:
    return key[-4:]


def hash_provider_key(value: str) -> str:
    """For `provider_api_key_hash`: a sha256 hex prefix telling keys apart; the key is never stored."""
    return hashlib.sha256(value.encode()).hexdigest()[:PROVIDER_KEY_HASH_CHARS]


class CreatedKey(NamedTuple):
    """The only moment the plaintext key exists: show it once, then forget it. `key, record = ...`"""

    key: str
    record: ApiKey


async def create_key(store: Store, name: str) -> CreatedKey:
    key = generate_key()
    record = ApiKey(
        id=str(uuid.uuid4()),
        name=name,
        key_hash=hash_key(key),
        key_hint=key_hint(key),
        created_at=datetime.now(UTC),
    )
    await store.insert_api_key(record)
    return CreatedKey(key=key, record=record)


async def revoke_key(store: Store, key_id: str, cache: KeyCache | None = None) -> ApiKey | None:
    """Revoke by id (None if no such key). Pass this process's cache to reject the key here at once."""
    if cache is not None:
        return await cache.revoke(key_id)
    return await store.revoke_api_key(key_id, datetime.now(UTC))


class KeyStoreUnavailable(RuntimeError):
    """The key is not cached and the database did not answer."""


@dataclass(slots=True)
class _Entry:
    key: ApiKey | None  # None: no such key (negative entry)
    expires: float


class KeyCache:
    def __init__(
        self,
        store: Store,
        *,
        ttl: float = 5.0,
        negative_ttl: float | None = None,
        stale_if_error: float = 300.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.negative_ttl = ttl if negative_ttl is None else negative_ttl
        self.stale_if_error = stale_if_error
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[ApiKey | None]] = {}

    async def lookup_key(self, key: str) -> ApiKey | None:
        """The active key record for a presented plaintext key, or None (unknown, malformed or revoked)."""
        if not key.startswith(KEY_PREFIX):
            return None
        return await self.lookup(hash_key(key))

    async def lookup(self, key_hash: str) -> ApiKey | None:
        """The active key record for a key hash (`hash_key(key)`), or None (unknown or revoked)."""
        now = self._clock()
        entry = self._entries.get(key_hash)
        if entry is not None and entry.expires > now:
            return entry.key
        # One database query per hash at a time, however many requests present it at once.
        pending = self._inflight.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._inflight[key_hash] = future
        try:
            result = await self._fetch(key_hash, entry, now)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it
            raise
        finally:
            del self._inflight[key_hash]

    async def _fetch(self, key_hash: str, stale: _Entry | None, now: float) -> ApiKey | None:
        try:
            found = await self.store.get_api_key_by_hash(key_hash)
        except Exception as exc:
            if stale is not None and stale.key is not None and now < stale.expires + self.stale_if_error:
                return stale.key
            raise KeyStoreUnavailable(f"cannot check API key: {exc!r}") from exc
        active = found if found is not None and found.active else None
        if len(self._entries) >= self.max_entries:
            self._evict(now)
        ttl = self.ttl if active is not None else self.negative_ttl
        self._entries[key_hash] = _Entry(active, self._clock() + ttl)
        return active

    def _evict(self, now: float) -> None:
        for h in [h for h, e in self._entries.items() if e.expires <= now]:
            del self._entries[h]
        if len(self._entries) >= self.max_entries:
            self._entries.clear()

    def invalidate(self, key_hash: str | None = None) -> None:
        """Forget one hash (or everything): the next lookup asks the database."""
        if key_hash is None:
            self._entries.clear()
        else:
            self._entries.pop(key_hash, None)

    async def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke in the database and reject the key in this process immediately."""
        revoked = await self.store.revoke_api_key(key_id, datetime.now(UTC))
        for h in [h for h, e in self._entries.items() if e.key is not None and e.key.id == key_id]:
            del self._entries[h]
        if revoked is not None:
            self._entries[revoked.key_hash] = _Entry(None, self._clock() + self.negative_ttl)
        return revoked
