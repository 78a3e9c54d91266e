"""API keys: only hashes are stored; the cache saves round trips yet rejects a revoked key at once here."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dirty_equals import IsDatetime, IsStr

from majordomo_otel.gateway.keys import (
    KeyCache,
    KeyStoreUnavailable,
    create_key,
    hash_key,
    hash_provider_key,
    revoke_key,
)
from majordomo_otel.gateway.store import ApiKey, Store, open_store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_key_format_and_hashes() -> None:
    created_hash = hash_key("mdm_sk_abc")
    assert created_hash == hashlib.sha256(b"mdm_sk_abc").hexdigest()
    assert hash_provider_key("sk-proj-secret") == hashlib.sha256(b"sk-proj-secret").hexdigest()[:16]


async def test_create_stores_hash_and_hint_only(store: Store) -> None:
    key, record = await create_key(store, "ci")
    assert re.fullmatch(r"mdm_sk_[A-Za-z0-9_-]{43}", key)
    assert record == ApiKey(
        id=IsStr(),
        name="ci",
        key_hash=hash_key(key),
        key_hint=key[-4:],
        created_at=IsDatetime(),
        revoked_at=None,
    )
    assert await store.list_api_keys() == [record]
    rows = await store.query("SELECT * FROM majordomo_api_keys")
    assert key not in repr(rows)
    assert key[7:] not in repr(rows)


async def test_plaintext_key_is_nowhere_in_the_sqlite_file(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    await store.open()
    await store.migrate()
    key, _ = await create_key(store, "file")
    await store.close()
    data = _database_bytes(sqlite_url.removeprefix("sqlite:///"))
    assert hash_key(key).encode() in data
    assert key.encode() not in data


def _database_bytes(path: str) -> bytes:
    return b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))


async def test_lookup_finds_an_active_key(store: Store) -> None:
    key, record = await create_key(store, "app")
    cache = KeyCache(store)
    assert await cache.lookup(hash_key(key)) == record
    assert await cache.lookup_key(key) == record
    assert await cache.lookup_key("mdm_sk_" + "x" * 43) is None
    assert await cache.lookup_key("not-a-key") is None


async def test_revoked_key_is_rejected_immediately_in_the_same_cache(store: Store) -> None:
    key, record = await create_key(store, "app")
    cache = KeyCache(store, ttl=3600)
    assert await cache.lookup(hash_key(key)) == record
    revoked = await cache.revoke(record.id)
    assert revoked is not None
    assert revoked.revoked_at == IsDatetime()
    assert await cache.lookup(hash_key(key)) is None


async def test_other_cache_sees_a_revocation_within_its_ttl(store: Store) -> None:
    key, record = await create_key(store, "app")
    clock = Clock()
    other = KeyCache(store, ttl=5.0, clock=clock)
    assert await other.lookup(hash_key(key)) == record
    await revoke_key(store, record.id)  # e.g. `majordomo keys revoke` in another process
    assert await other.lookup(hash_key(key)) == record  # still cached: the documented bound
    clock.now += 5.01
    assert await other.lookup(hash_key(key)) is None


async def test_negative_results_are_cached_too(store: Store) -> None:
    clock = Clock()
    cache = KeyCache(store, ttl=5.0, clock=clock)
    key = "mdm_sk_" + "y" * 43
    assert await cache.lookup(hash_key(key)) is None
    await store.insert_api_key(
        ApiKey(
            id="k1",
            name="late",
            key_hash=hash_key(key),
            key_hint="yyyy",
            created_at=datetime.now(UTC),
        )
    )
    assert await cache.lookup(hash_key(key)) is None
    clock.now += 5.01
    assert (await cache.lookup(hash_key(key))) is not None


async def test_revoking_an_unknown_key_returns_none(store: Store) -> None:
    assert await revoke_key(store, "no-such-id") is None


async def test_outage_serves_known_keys_and_fails_unknown_ones(store: Store) -> None:
    key, record = await create_key(store, "app")
    clock = Clock()
    cache = KeyCache(store, ttl=5.0, stale_if_error=60.0, clock=clock)
    assert await cache.lookup(hash_key(key)) == record
    await store.close()  # the database goes away
    clock.now += 10
    assert await cache.lookup(hash_key(key)) == record
    with pytest.raises(KeyStoreUnavailable):
        await cache.lookup(hash_key("mdm_sk_unknown"))
    clock.now += 60
    with pytest.raises(KeyStoreUnavailable):
        await cache.lookup(hash_key(key))
    await store.open()  # the fixture closes it again
