"""Majordomo API keys: `mdm_sk_…` secrets of which only a sha256 hash and a 4-char hint are stored.

`KeyCache` holds the whole keys table in memory (key hash → row, revoked keys included), so a check costs
no database round trip and an unknown key costs no query of its own. One task at a time reloads the
table: in the background once it is `0.8 x ttl` old and requests keep coming, and on demand when it is
older than `ttl` or a key is missing from it (a miss reloads at most once per `min_refresh_interval`, so
3,000 random keys cost a handful of queries, not 3,000). A check waits for a reload at most `deadline`
seconds (0.5 s) from the moment that reload began, then answers from the table it has. Bounds:

* in the process that revokes a key through `KeyCache.revoke`, the key is rejected immediately;
* in every other process (other gateway replicas, or a gateway when the `majordomo keys` CLI revokes),
  a revoked key is accepted for at most `ttl` seconds (default 5 s) while the database answers within
  `deadline`, and a newly created key is rejected for about `min_refresh_interval` (1 s) at most;
* while the database does not answer in time, a key that was valid stays valid for `stale_if_error`
  seconds (default 300 s) past the table's TTL, a revoked key stays rejected, and a key not in the table
  fails with `KeyStoreUnavailable` (the gateway answers 503), never silently passes;
* a malformed key (anything but `mdm_sk_` + 32 to 64 url-safe ASCII characters) is rejected without a lookup.

A reload reads every row: about 3 ms per thousand keys on PostgreSQL (26 ms for 10k, 0.4 s for 100k,
measured), so tables far beyond 10k keys want a longer `ttl`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from majordomo_otel._tasks import stop_task
from majordomo_otel.gateway.store import ApiKey, Store

log = logging.getLogger("majordomo_otel.gateway")

KEY_PREFIX = "mdm_sk_"
PROVIDER_KEY_HASH_CHARS = 16
# Ours have 43 characters; the range only refuses what cannot be a key (short, long, other characters).
_WELL_FORMED = re.compile(KEY_PREFIX + r"[A-Za-z0-9_-]{32,64}")
_REFRESH_AHEAD = 0.8  # of `ttl`: a check then starts a reload without waiting for it


def generate_key() -> str:
    """`mdm_sk_` + 43 url-safe random characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_well_formed(key: str) -> bool:
    """Checked before hashing: a raw 0xff byte in a header arrives as a lone surrogate, which
    `hash_key` could not even encode."""
    return _WELL_FORMED.fullmatch(key) is not None


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
    """The key is not in the table and the table could not be reloaded in time."""


class KeyCache:
    """The keys table in memory, reloaded by one task at a time (see the module docstring for the bounds)."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = 5.0,
        stale_if_error: float = 300.0,
        deadline: float = 0.5,
        min_refresh_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.stale_if_error = stale_if_error
        self.deadline = deadline
        self.min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._table: dict[str, ApiKey] = {}
        self._loaded_at = -math.inf  # when the reload that made `_table` began
        self._attempted_at = -math.inf  # when the latest reload began
        self._missed_at = -math.inf  # when the latest reload a missing key waited for began
        self._healthy = True  # the latest reload succeeded (or none ran yet)
        self._error = ""
        self._reload: asyncio.Task[None] | None = None
        self._revoked_meanwhile: list[ApiKey] = []  # revoked here while a reload was reading the table

    async def lookup_key(self, key: str) -> ApiKey | None:
        """The active key record for a presented plaintext key, or None (unknown, malformed or revoked)."""
        return await self.lookup(hash_key(key)) if is_well_formed(key) else None

    async def lookup(self, key_hash: str) -> ApiKey | None:
        """The active key record for a key hash (`hash_key(key)`), or None (unknown or revoked)."""
        now = self._clock()
        key = self._table.get(key_hash)
        age = now - self._loaded_at
        # After a failed reload, retry (and reload for misses) at most once per `min_refresh_interval`.
        ageing = age >= self.ttl * _REFRESH_AHEAD and (
            self._healthy or now - self._attempted_at >= self.min_refresh_interval
        )
        missing = key is None and now - self._missed_at >= self.min_refresh_interval
        if self._reload is None and (ageing or missing):
            self._start(now)
        if self._reload is not None and (key is None or age >= self.ttl):
            remaining = self._attempted_at + self.deadline - now
            if remaining > 0:
                await asyncio.wait({self._reload}, timeout=remaining)
            key = self._table.get(key_hash)
            if key is None:  # that reload was this miss's: the next miss may reload `min_refresh_interval` later
                self._missed_at = self._attempted_at
            now = self._clock()
        return self._answer(key, now - self._loaded_at)

    def _answer(self, key: ApiKey | None, age: float) -> ApiKey | None:
        if key is not None and (not key.active or age < self.ttl + self.stale_if_error):
            return key if key.active else None  # revocation is final: no outage makes a revoked key valid
        if key is None and age < self.ttl and self._healthy and self._reload is None:
            return None
        why = "no answer in time" if self._reload is not None else self._error
        raise KeyStoreUnavailable(f"cannot check API key: the key table could not be reloaded ({why})")

    def _start(self, now: float) -> None:
        self._attempted_at = now
        self._reload = asyncio.get_running_loop().create_task(self._load(now), name="majordomo-key-reload")

    async def _load(self, started: float) -> None:
        try:
            table = await self.store.api_keys_by_hash()
        except Exception as exc:
            if self._healthy:
                log.warning("cannot reload API keys (%r): serving the last table; unknown keys get 503", exc)
            self._healthy, self._error = False, repr(exc)
        else:
            for key in self._revoked_meanwhile:
                table[key.key_hash] = key
            if not self._healthy:
                log.info("API keys reloaded: the key store answers again")
            self._table, self._loaded_at, self._healthy = table, started, True
        finally:
            self._revoked_meanwhile.clear()
            self._reload = None

    async def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke in the database and reject the key in this process immediately."""
        revoked = await self.store.revoke_api_key(key_id, datetime.now(UTC))
        if revoked is not None:
            self._table[revoked.key_hash] = revoked
            if self._reload is not None:  # it may have read the row before the revocation: patch its table too
                self._revoked_meanwhile.append(revoked)
        return revoked

    async def close(self) -> None:
        """Stop a reload in flight, so a hung store keeps no task alive past shutdown."""
        await stop_task(self._reload)
