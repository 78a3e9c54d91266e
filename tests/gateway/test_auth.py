"""Auth under a hung or locked database, a flood of unknown keys, keys created or revoked by another process,
and malformed keys: real SQLite files, the real PostgreSQL (hung through a frozen TCP forwarder) and a real
gateway over loopback. Timings are asserted, since a stall is the defect."""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from dirty_equals import IsInt
from gateway_harness import FreezableProxy, Harness, sim_settings, start_gateway

from majordomo_otel.gateway.auth import Authenticator, AuthOutcome
from majordomo_otel.gateway.keys import (
    KeyCache,
    KeyStoreUnavailable,
    create_key,
    generate_key,
    hash_key,
    key_hint,
)
from majordomo_otel.gateway.store import ApiKey, Store, open_store
from majordomo_otel.sim import SimServer

CHAT = "/v1/chat/completions"
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
TTL = 0.3  # short, so tests reach "the cache entry expired" quickly
DEADLINE = 0.5  # KeyCache's default: how long a key check may wait for the store
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=10)  # a stalled check fails the test instead of hanging it


class CountingStore:
    """The real store, with each call counted by method name and the most concurrent calls remembered."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await attr(*args, **kwargs)
            finally:
                self.in_flight -= 1

        return counted


class LateReads:
    """The real store, whose key-table reads answer only once `answer` is set: a reload that read the
    table before a change and lands after it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.read = asyncio.Event()
        self.answer = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def api_keys_by_hash(self) -> dict[str, ApiKey]:
        table = await self.inner.api_keys_by_hash()
        self.read.set()
        await self.answer.wait()
        return table


def through(port: int, url: str) -> str:
    """`url` (with its ?schema=) pointed at the forwarder instead of the server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


async def timed(call: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    start = time.perf_counter()
    status = await call()
    return status, time.perf_counter() - start


async def post_status(http: aiohttp.ClientSession, gw: Harness, key: str) -> int:
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers={"X-Majordomo-Key": key}, timeout=CLIENT_TIMEOUT) as r:
        await r.read()
        return r.status


async def wait_for_status(http: aiohttp.ClientSession, gw: Harness, key: str, status: int, limit: float) -> float:
    """Seconds until a request with `key` gets `status` (polling every 20 ms); `limit` + 1 if it never does."""
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < limit:
        if await post_status(http, gw, key) == status:
            return elapsed
        await asyncio.sleep(0.02)
    return limit + 1


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


@pytest.fixture
async def pg_proxy() -> AsyncIterator[FreezableProxy]:
    async with FreezableProxy("127.0.0.1", 5432) as proxy:
        try:
            yield proxy
        finally:
            proxy.thaw()


@pytest.fixture
async def hung_pg_gw(sim: SimServer, tmp_path: Path, pg_url: str, pg_proxy: FreezableProxy) -> AsyncIterator[Harness]:
    """A gateway whose key table was loaded, then PostgreSQL stopped answering and the TTL ran out."""
    settings = sim_settings(sim, through(pg_proxy.port, pg_url), tmp_path / "spool", key_cache_ttl=TTL)
    gw = await start_gateway(settings, sim=sim)
    try:
        async with aiohttp.ClientSession() as http:
            assert await post_status(http, gw, gw.key) == 200  # the key is known now
        pg_proxy.freeze()
        await asyncio.sleep(TTL + 0.1)
        yield gw
    finally:
        pg_proxy.thaw()  # let held queries finish, so shutdown does not wait for the driver's timeout
        await gw.runner.cleanup()


@pytest.fixture
async def sqlite_gw(sim: SimServer, tmp_path: Path) -> AsyncIterator[Harness]:
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'gw.db'}", tmp_path / "spool", key_cache_ttl=TTL)
    gw = await start_gateway(settings, sim=sim)
    try:
        yield gw
    finally:
        await gw.runner.cleanup()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'keys.db'}")
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def pg_store(pg_url: str, pg_proxy: FreezableProxy) -> AsyncIterator[Store]:
    """A migrated PostgreSQL store reached through `pg_proxy` (thawed before the store closes)."""
    store = open_store(through(pg_proxy.port, pg_url))
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        pg_proxy.thaw()
        await store.close()


# ------------------------------------------------------------------------------------------------ hung database


async def test_hung_postgres_known_key_p99_stays_under_a_second(hung_pg_gw: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        gate = asyncio.Semaphore(20)

        async def one() -> tuple[int, float]:
            async with gate:
                return await timed(lambda: post_status(http, hung_pg_gw, hung_pg_gw.key))

        results = await asyncio.gather(*(one() for _ in range(200)))
    statuses = Counter(status for status, _ in results)
    worst = p99([seconds for _, seconds in results])
    assert (statuses, worst < 1.0) == ({200: 200}, True), f"p99 {worst:.3f}s"


async def test_hung_postgres_never_seen_key_gets_503_within_the_deadline(hung_pg_gw: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        start = time.perf_counter()
        async with http.post(
            hung_pg_gw.url + CHAT, json=CHAT_BODY, headers={"X-Majordomo-Key": generate_key()}, timeout=CLIENT_TIMEOUT
        ) as resp:
            reply = (resp.status, await resp.json())
        elapsed = time.perf_counter() - start
    assert reply == (
        503,
        {
            "error": {
                "message": "majordomo gateway: key store unavailable; retry shortly",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    )
    assert elapsed < DEADLINE + 0.3


async def test_hung_postgres_costs_one_query_in_flight_however_many_checks(
    pg_store: Store, pg_proxy: FreezableProxy
) -> None:
    key, _ = await create_key(pg_store, "app")
    counting = CountingStore(pg_store)
    cache = KeyCache(counting, ttl=TTL)  # type: ignore[arg-type]
    assert await cache.lookup_key(key) is not None
    pg_proxy.freeze()
    await asyncio.sleep(TTL + 0.05)
    try:
        outcomes = await asyncio.gather(
            *(cache.lookup_key(key if i % 2 else generate_key()) for i in range(1000)), return_exceptions=True
        )
        assert (dict(counting.calls), counting.max_in_flight) == ({"api_keys_by_hash": 2}, 1)
        assert Counter(type(o).__name__ for o in outcomes) == {"ApiKey": 500, "KeyStoreUnavailable": 500}
    finally:
        await cache.close()


async def test_hung_postgres_keeps_the_last_answer_for_known_revoked_and_unseen_keys(
    pg_store: Store, pg_proxy: FreezableProxy
) -> None:
    good, good_row = await create_key(pg_store, "good")
    bad, bad_row = await create_key(pg_store, "bad")
    await pg_store.revoke_api_key(bad_row.id, datetime.now(UTC))
    cache = KeyCache(pg_store, ttl=TTL)
    assert await cache.lookup_key(good) == good_row
    pg_proxy.freeze()
    await asyncio.sleep(TTL + 0.05)
    try:
        start = time.perf_counter()
        answers = [await cache.lookup_key(good), await cache.lookup_key(bad)]
        with pytest.raises(KeyStoreUnavailable):
            await cache.lookup_key(generate_key())
        assert (answers, time.perf_counter() - start < DEADLINE + 0.2) == ([good_row, None], True)
    finally:
        await cache.close()


async def test_close_leaves_no_reload_pending(pg_store: Store, pg_proxy: FreezableProxy) -> None:
    cache = KeyCache(pg_store, ttl=TTL)
    pg_proxy.freeze()
    with pytest.raises(KeyStoreUnavailable):  # never loaded, store hung: fail closed after the deadline
        await cache.lookup_key(generate_key())
    pending = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.startswith("KeyCache.")]  # type: ignore[union-attr]
    await cache.close()
    assert (len(pending), [t for t in pending if not t.done()]) == (1, [])


async def test_locked_sqlite_does_not_stall_auth_beyond_the_deadline(sqlite_gw: Harness, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        assert await post_status(http, sqlite_gw, sqlite_gw.key) == 200
        await sqlite_gw.gateway.writer.flush()
        lock = sqlite3.connect(tmp_path / "gw.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            # This request's record makes the store's thread wait on the lock (busy_timeout, 5 s)...
            assert await post_status(http, sqlite_gw, sqlite_gw.key) == 200
            await asyncio.sleep(TTL + 0.1)  # ...and the key table expires meanwhile
            results = [await timed(lambda: post_status(http, sqlite_gw, sqlite_gw.key)) for _ in range(20)]
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    worst = max(seconds for _, seconds in results)
    assert (Counter(status for status, _ in results), worst < DEADLINE + 0.3) == ({200: 20}, True), f"{worst:.3f}s"


# ------------------------------------------------------------------------------------------------ unknown keys


async def test_3000_unknown_keys_cost_a_handful_of_queries(sim: SimServer, tmp_path: Path, pg_url: str) -> None:
    gw = await start_gateway(sim_settings(sim, pg_url, tmp_path / "spool"), sim=sim)
    try:
        async with aiohttp.ClientSession() as http:
            assert await post_status(http, gw, gw.key) == 200
            counting = CountingStore(gw.gateway.keys.store)
            gw.gateway.keys.store = counting  # type: ignore[assignment]
            gate = asyncio.Semaphore(50)

            async def one() -> int:
                async with gate:
                    return await post_status(http, gw, generate_key())

            start = time.perf_counter()
            statuses = Counter(await asyncio.gather(*(one() for _ in range(3000))))
            elapsed = time.perf_counter() - start
    finally:
        await gw.runner.cleanup()
    # One reload per second at most (min_refresh_interval), whatever the number of misses.
    assert (statuses, dict(counting.calls)) == (
        {401: 3000},
        {"api_keys_by_hash": IsInt(ge=1, le=1 + math.ceil(elapsed))},
    )


async def test_first_unknown_key_after_the_load_still_asks_the_database(
    pg_store: Store, pg_proxy: FreezableProxy
) -> None:
    """However fresh the table, a first miss reloads it: with the database gone that fails closed (503), not 401."""
    key, row = await create_key(pg_store, "app")
    cache = KeyCache(pg_store, ttl=60.0)
    assert await cache.lookup_key(key) == row
    await pg_proxy.cut()
    try:
        with pytest.raises(KeyStoreUnavailable):
            await cache.lookup_key(generate_key())
    finally:
        await pg_proxy.restore()
        await cache.close()


async def test_key_created_by_another_process_works_within_a_second(sim: SimServer, tmp_path: Path) -> None:
    """With a TTL of a minute, only the reload a miss triggers (at most one a second) can find the new key."""
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    gw = await start_gateway(sim_settings(sim, url, tmp_path / "spool", key_cache_ttl=60.0), sim=sim)
    other = open_store(url)  # what `majordomo keys create` opens
    await other.open()
    key = generate_key()
    try:
        async with aiohttp.ClientSession() as http:
            assert await post_status(http, gw, gw.key) == 200  # the key table is loaded
            assert await post_status(http, gw, key) == 401  # tried a moment before it exists
            row = ApiKey(
                id="late", name="late", key_hash=hash_key(key), key_hint=key_hint(key), created_at=datetime.now(UTC)
            )
            await other.insert_api_key(row)
            assert await wait_for_status(http, gw, key, 200, limit=3.0) < 1.3
    finally:
        await other.close()
        await gw.runner.cleanup()


async def test_revocation_by_another_process_is_seen_within_ttl(sqlite_gw: Harness, tmp_path: Path) -> None:
    other = open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    await other.open()
    try:
        async with aiohttp.ClientSession() as http:
            assert await post_status(http, sqlite_gw, sqlite_gw.key) == 200
            [row] = await other.list_api_keys()
            assert await KeyCache(other).revoke(row.id) is not None
            assert await wait_for_status(http, sqlite_gw, sqlite_gw.key, 401, limit=3.0) < TTL + 0.15
    finally:
        await other.close()


async def test_revoking_here_beats_a_reload_that_read_the_key_before(sqlite_store: Store) -> None:
    key, row = await create_key(sqlite_store, "app")
    store = LateReads(sqlite_store)
    store.answer.set()
    now = [1000.0]
    cache = KeyCache(store, ttl=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await cache.lookup_key(key) == row
    store.read.clear()
    store.answer.clear()
    now[0] += 5.0
    waiting = asyncio.create_task(cache.lookup_key(key))  # the table expired: this starts a reload...
    await store.read.wait()  # ...which reads the key as active
    await cache.revoke(row.id)
    store.answer.set()  # and lands after the revocation
    assert [await waiting, await cache.lookup_key(key)] == [None, None]


# ------------------------------------------------------------------------------------------------ malformed keys


async def test_raw_0xff_in_the_key_header_is_401_and_logs_nothing(
    gw: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host, port = urlsplit(gw.url).netloc.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"model": "gpt-4o-mini", "messages": []}'
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"X-Majordomo-Key: mdm_sk_\xff" + b"A" * 42 + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = response.partition(b"\r\n\r\n")
    assert (head.split(b"\r\n")[0], payload) == (
        b"HTTP/1.1 401 Unauthorized",
        b'{"error": {"message": "majordomo gateway: malformed X-Majordomo-Key", "type": "invalid_request_error", '
        b'"param": null, "code": null}}',
    )
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or "AAAA" in r.getMessage()] == []
    assert gw.sim.requests == []


@pytest.mark.parametrize(
    "key",
    [
        "mdm_sk_\udcff" + "A" * 42,  # what aiohttp makes of a raw 0xff byte (surrogateescape)
        "mdm_sk_" + "é" * 43,
        "mdm_sk_" + "A" * 40 + "+/=",  # standard base64, not url-safe
        "mdm_sk_" + "A" * 40 + " \t",
        "mdm_sk_short",
        "mdm_sk_" + "A" * 300,
        "sk-proj-" + "A" * 43,  # a provider key in the wrong header
        "MDM_SK_" + "A" * 43,
    ],
)
async def test_malformed_keys_are_401_without_a_store_query(sqlite_store: Store, key: str) -> None:
    counting = CountingStore(sqlite_store)
    outcome = await Authenticator(KeyCache(counting)).check(key)  # type: ignore[arg-type]
    assert (outcome, dict(counting.calls)) == (AuthOutcome(False, reason="malformed X-Majordomo-Key"), {})


async def test_a_well_formed_key_is_checked_against_the_table(sqlite_store: Store) -> None:
    key, row = await create_key(sqlite_store, "app")
    auth = Authenticator(KeyCache(sqlite_store))
    assert [await auth.check(key), await auth.check(generate_key())] == [
        AuthOutcome(True, key_id=row.id, key_name="app"),
        AuthOutcome(False, reason="invalid or revoked X-Majordomo-Key"),
    ]
