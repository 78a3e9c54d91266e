"""Provider keys held by the gateway: a client sends only its Majordomo key, wherever its SDK puts a key,
and the stand-in upstream receives the gateway's provider key in the provider's own header, never `mdm_sk_`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from gateway_harness import Harness, TcpProxy, sim_settings, start_gateway
from google import genai
from google.genai import types

from majordomo_otel.gateway.credentials import set_credential
from majordomo_otel.gateway.keys import KEY_PREFIX, create_key, hash_provider_key, revoke_key
from majordomo_otel.gateway.secret_box import SecretBox
from majordomo_otel.sim import RecordedRequest, SimServer

SECRET = "operator-secret-for-tests-0123456789"
STORED = {
    "openai": "sk-stored-openai-0000000000000001",
    "anthropic": "sk-ant-stored-0000000000000002",
    "gemini": "AIza-stored-gemini-000000000003",
}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
GEMINI_PATH = "/v1beta/models/gemini-2.0-flash:generateContent"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def _no_majordomo_key_upstream(requests: list[RecordedRequest]) -> None:
    for request in requests:
        assert KEY_PREFIX not in request.path
        assert not [name for name, value in request.headers if KEY_PREFIX in value]


async def _start(sim: SimServer, tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Harness:
    url = database_url or f"sqlite:///{tmp_path / 'gw.db'}"
    return await start_gateway(sim_settings(sim, url, tmp_path / "spool", key_cache_ttl=0.2, **overrides), sim=sim)


async def _store_keys(gw: Harness, keys: dict[str, str] = STORED) -> None:
    for provider, key in keys.items():
        await set_credential(gw.gateway.store, SecretBox(SECRET), provider, key)
    await gw.gateway.credentials.reload()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MAJORDOMO_SECRET_KEY", SECRET)
    for name in ("MAJORDOMO_OPENAI_API_KEY", "MAJORDOMO_ANTHROPIC_API_KEY", "MAJORDOMO_GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return SECRET


@pytest.fixture
async def vault(secret: str, sim: SimServer, tmp_path: Path) -> AsyncIterator[Harness]:
    gw = await _start(sim, tmp_path)
    await _store_keys(gw)
    try:
        yield gw
    finally:
        await gw.runner.cleanup()


async def test_openai_sdk_needs_only_the_majordomo_key(vault: Harness) -> None:
    async with openai.AsyncOpenAI(base_url=vault.url + "/v1", api_key=vault.key, max_retries=0) as client:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    [upstream] = vault.sim.requests
    [record] = await vault.records(expected=1)
    assert (upstream.header("authorization"), record.status_code, record.provider_api_key_hash) == (
        f"Bearer {STORED['openai']}",
        200,
        hash_provider_key(STORED["openai"]),
    )
    _no_majordomo_key_upstream(vault.sim.requests)


async def test_anthropic_sdk_needs_only_the_majordomo_key(vault: Harness) -> None:
    async with anthropic.AsyncAnthropic(base_url=vault.url, api_key=vault.key, max_retries=0) as client:
        await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    [upstream] = vault.sim.requests
    assert (upstream.header("x-api-key"), upstream.header("authorization")) == (STORED["anthropic"], None)
    _no_majordomo_key_upstream(vault.sim.requests)


async def test_google_genai_needs_only_the_majordomo_key(vault: Harness) -> None:
    client = genai.Client(api_key=vault.key, http_options=types.HttpOptions(base_url=vault.url))
    await client.aio.models.generate_content(model="gemini-2.0-flash", contents="hi")
    [upstream] = vault.sim.requests
    assert upstream.header("x-goog-api-key") == STORED["gemini"]
    _no_majordomo_key_upstream(vault.sim.requests)


async def test_a_majordomo_key_in_the_query_is_replaced_too(vault: Harness, http: aiohttp.ClientSession) -> None:
    url = f"{vault.url}{GEMINI_PATH}?alt=json&key={vault.key}"
    async with http.post(url, json=GEMINI_BODY) as resp:
        assert resp.status == 200
    [upstream] = vault.sim.requests
    assert (upstream.path, upstream.header("x-goog-api-key")) == (f"{GEMINI_PATH}?alt=json", STORED["gemini"])


async def test_pydantic_ai_gateway_anthropic_route_sends_x_api_key(vault: Harness) -> None:
    """Pydantic AI's `gateway/anthropic` client sends the key as `Authorization: Bearer` (auth_token)."""
    async with anthropic.AsyncAnthropic(base_url=vault.url + "/anthropic", auth_token=vault.key) as client:
        await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    [upstream] = vault.sim.requests
    assert (upstream.path, upstream.header("x-api-key"), upstream.header("authorization")) == (
        "/v1/messages",
        STORED["anthropic"],
        None,
    )


SLOTS = {
    "x-majordomo-key": lambda key: ({"X-Majordomo-Key": key}, ""),
    "authorization": lambda key: ({"Authorization": f"Bearer {key}"}, ""),
    "x-api-key": lambda key: ({"x-api-key": key}, ""),
    "x-goog-api-key": lambda key: ({"x-goog-api-key": key}, ""),
    "api-key": lambda key: ({"api-key": key}, ""),
    "query": lambda key: ({}, f"?key={key}"),
}


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", GEMINI_PATH, "/groq/openai/v1/models"])
async def test_a_revoked_key_is_refused_in_every_slot_on_every_route(
    vault: Harness, http: aiohttp.ClientSession, slot: str, path: str
) -> None:
    [row] = [k for k in await vault.gateway.store.list_api_keys() if k.name == "tests"]
    await revoke_key(vault.gateway.store, row.id, vault.gateway.keys)
    headers, query = SLOTS[slot](vault.key)
    async with http.post(vault.url + path + query, json=CHAT, headers=headers) as resp:
        assert (resp.status, "invalid or revoked" in await resp.text()) == (401, True)
    assert vault.sim.requests == []


async def test_a_clients_own_provider_key_passes_through(vault: Harness, http: aiohttp.ClientSession) -> None:
    headers = {"X-Majordomo-Key": vault.key, "Authorization": "Bearer sk-the-apps-own"}
    async with http.post(vault.url + "/v1/chat/completions", json=CHAT, headers=headers) as resp:
        assert resp.status == 200
    [upstream] = vault.sim.requests
    assert upstream.header("authorization") == "Bearer sk-the-apps-own"


async def test_operator_can_refuse_client_provider_keys(
    secret: str, sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    gw = await _start(sim, tmp_path, client_provider_keys=False)
    await _store_keys(gw)
    try:
        own = {"X-Majordomo-Key": gw.key, "Authorization": "Bearer sk-the-apps-own"}
        async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=own) as resp:
            refused = (
                resp.status,
                "does not accept provider keys from clients" in (await resp.json())["error"]["message"],
            )
        async with http.post(
            gw.url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {gw.key}"}
        ) as resp:
            allowed = resp.status
    finally:
        await gw.runner.cleanup()
    assert (refused, allowed) == ((403, True), 200)
    [upstream] = sim.requests
    assert upstream.header("authorization") == f"Bearer {STORED['openai']}"


async def test_no_key_to_send_is_refused_before_upstream(secret: str, sim: SimServer, tmp_path: Path) -> None:
    gw = await _start(sim, tmp_path)
    try:
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
            with pytest.raises(openai.AuthenticationError) as caught:
                await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    finally:
        await gw.runner.cleanup()
    assert "MAJORDOMO_OPENAI_API_KEY" in str(caught.value)
    assert "majordomo credentials set openai" in str(caught.value)
    assert sim.requests == []


async def test_the_environment_provides_a_key_when_none_is_stored(
    secret: str, sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAJORDOMO_OPENAI_API_KEY", "sk-from-the-environment-0001")
    gw = await _start(sim, tmp_path)
    try:
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    finally:
        await gw.runner.cleanup()
    [upstream] = sim.requests
    assert upstream.header("authorization") == "Bearer sk-from-the-environment-0001"


async def test_a_key_stored_for_one_majordomo_key_is_used_for_that_key_only(vault: Harness) -> None:
    team_key, team = await create_key(vault.gateway.store, "team-with-own-account")
    await set_credential(vault.gateway.store, SecretBox(SECRET), "openai", "sk-team-account-0001", api_key_id=team.id)
    await vault.gateway.credentials.reload()
    for key in (team_key, vault.key):
        async with openai.AsyncOpenAI(base_url=vault.url + "/v1", api_key=key, max_retries=0) as client:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert [r.header("authorization") for r in vault.sim.requests] == [
        "Bearer sk-team-account-0001",
        f"Bearer {STORED['openai']}",
    ]


async def test_rotating_a_stored_key_reaches_a_running_gateway(vault: Harness, http: aiohttp.ClientSession) -> None:
    await set_credential(vault.gateway.store, SecretBox(SECRET), "openai", "sk-rotated-openai-0000000000002")
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = None
    while sent != "Bearer sk-rotated-openai-0000000000002" and loop.time() - started < 5:
        vault.sim.clear()
        await asyncio.sleep(0.05)
        async with http.post(
            vault.url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {vault.key}"}
        ) as resp:
            assert resp.status == 200
        sent = vault.sim.requests[0].header("authorization")
    assert (sent, loop.time() - started < 0.2 + 1.0) == ("Bearer sk-rotated-openai-0000000000002", True)


async def test_stored_keys_outlive_a_database_outage(
    secret: str, sim: SimServer, tmp_path: Path, pg_url: str, http: aiohttp.ClientSession
) -> None:
    async def chat(gw: Harness) -> int:
        headers = {"Authorization": f"Bearer {gw.key}"}
        async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=headers) as resp:
            return resp.status

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        gw = await _start(sim, tmp_path, pg_url.replace(":5432/", f":{proxy.port}/"))
        try:
            await _store_keys(gw)
            before = await chat(gw)  # the Majordomo key is in the key table now
            await proxy.cut()
            await asyncio.sleep(0.6)  # several reloads of both tables fail meanwhile
            during = await chat(gw)
            await proxy.restore()
        finally:
            await gw.runner.cleanup()
    assert (before, during) == (200, 200)
    assert [r.header("authorization") for r in sim.requests] == [f"Bearer {STORED['openai']}"] * 2


async def test_keys_stored_under_another_secret_are_not_used_and_the_log_says_why(
    secret: str, sim: SimServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, http: aiohttp.ClientSession
) -> None:
    gw = await _start(sim, tmp_path)
    try:
        await set_credential(gw.gateway.store, SecretBox("a-different-secret-0123456789"), "openai", STORED["openai"])
        with caplog.at_level(logging.ERROR, logger="majordomo_otel.gateway.credentials"):
            await gw.gateway.credentials.reload()
        async with http.post(
            gw.url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {gw.key}"}
        ) as resp:
            status = resp.status
    finally:
        await gw.runner.cleanup()
    assert (status, sim.requests) == (401, [])
    assert "cannot be decrypted with MAJORDOMO_SECRET_KEY" in caplog.text
    assert STORED["openai"] not in caplog.text
