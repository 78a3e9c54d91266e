"""The proxy's contract: transparent both ways, streams unbuffered, every request recorded, bad input survived."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web
from dirty_equals import IsPositiveFloat, IsStr
from gateway_harness import Harness, sim_settings, start_gateway

from majordomo_otel.sim import SimServer

CHAT = "/v1/chat/completions"
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
STREAM_BODY = {**CHAT_BODY, "stream": True, "stream_options": {"include_usage": True}}


async def test_stream_reaches_client_before_upstream_finishes(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = gw.headers(**{"X-Sim-Fixture": "openai/chat_stream_usage_text", "X-Sim-Hold": "1"})
    async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=headers) as resp:
        first = await asyncio.wait_for(resp.content.readany(), 5)  # the sim is holding back its last event
        assert first.startswith(b"data: ")
        assert not gw.sim.requests[0].finished
        gw.sim.release()
        rest = await resp.read()
    assert first + rest == gw.sim.state.fixtures["openai/chat_stream_usage_text"].wire_body()
    [record] = await gw.records(expected=1)
    assert (record.streamed, record.usage_status, record.time_to_first_token_ms) == (True, "reported", IsPositiveFloat)


async def test_gateway_headers_never_go_upstream(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = gw.headers(
        **{
            "Authorization": "Bearer sk-provider",
            "X-Majordomo-Feature": "f",
            "X-Majordomo-User-Id": "u",
            "X-Majordomo-Provider": "openai",
            "baggage": "user=u",
            "anthropic-beta": "kept",
        }
    )
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=headers) as resp:
        assert resp.status == 200
    [upstream] = gw.sim.requests
    names = {name.lower() for name, _ in upstream.headers}
    assert not {n for n in names if n.startswith("x-majordomo-")}
    assert "baggage" not in names
    assert (upstream.header("authorization"), upstream.header("anthropic-beta")) == ("Bearer sk-provider", "kept")
    assert upstream.body == json.dumps(CHAT_BODY).encode()


_NO_CLIENT_DEFAULTS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", CHAT, json.dumps(CHAT_BODY).encode(), ["authorization", "content-length", "host", "traceparent"]),
        ("GET", "/v1/models", None, ["authorization", "host", "traceparent"]),
    ],
)
async def test_upstream_gets_the_clients_headers_and_nothing_the_http_client_adds(
    gw: Harness, method: str, path: str, body: bytes | None, expected: list[str]
) -> None:
    # No User-Agent, Accept, Accept-Encoding or Content-Type (aiohttp's defaults): only what the client sent.
    async with (
        aiohttp.ClientSession(skip_auto_headers=_NO_CLIENT_DEFAULTS) as bare,
        bare.request(method, gw.url + path, data=body, headers=gw.headers(Authorization="Bearer sk-p")) as resp,
    ):
        assert resp.status == 200
    [upstream] = gw.sim.requests
    assert sorted(name.lower() for name, _ in upstream.headers) == expected


async def test_response_carries_request_and_trace_ids(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers()) as resp:
        ids = (resp.headers["X-Majordomo-Request-Id"], resp.headers["X-Majordomo-Trace-Id"])
    [record] = await gw.records(expected=1)
    assert ids == (record.id, record.trace_id)


async def test_a_path_no_provider_api_has_is_a_clear_404(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(gw.url + "/v2/images/generations", json={}, headers=gw.headers()) as resp:
        body = await resp.json()
    assert resp.status == 404
    assert body["error"]["message"] == IsStr(
        regex=r".*no route for POST /v2/images/generations: no provider API has this path.*/v1beta/models.*"
    )


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        (CHAT, {}, {"error": {"message": IsStr(), "type": "invalid_request_error", "param": None, "code": None}}),
        ("/v1/messages", {}, {"type": "error", "error": {"type": "authentication_error", "message": IsStr()}}),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {},
            {"error": {"code": 401, "message": IsStr(), "status": "UNAUTHENTICATED"}},
        ),
    ],
)
async def test_missing_key_is_401_in_the_providers_shape(
    gw: Harness, http: aiohttp.ClientSession, path: str, headers: dict[str, str], shape: object
) -> None:
    async with http.post(gw.url + path, json=CHAT_BODY, headers=headers) as resp:
        assert (resp.status, await resp.json()) == (401, shape)
    assert gw.sim.requests == []


async def test_wrong_and_revoked_keys_are_401(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers={"X-Majordomo-Key": "mdm_sk_wrong"}) as resp:
        assert resp.status == 401
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers()) as resp:
        assert resp.status == 200
    [key] = await gw.gateway.store.list_api_keys()
    await gw.gateway.keys.revoke(key.id)
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers()) as resp:
        assert resp.status == 401  # immediately, in this process
    assert len(gw.sim.requests) == 1


async def test_keys_never_appear_in_logs_or_records(
    sim: SimServer, tmp_path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", access_log=True)
    gw = await start_gateway(settings, sim=sim)
    await _send_secrets_and_check(gw, http, caplog)
    await gw.runner.cleanup()
    assert "POST /v1/chat/completions 200" in caplog.text  # the access log did run


async def _send_secrets_and_check(gw: Harness, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    provider_key = "sk-provider-secret-123"
    headers = gw.headers(Authorization=f"Bearer {provider_key}")
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=headers) as resp:
        assert resp.status == 200
    async with http.post(gw.url + "/v2/nowhere?key=AIza-secret", json=CHAT_BODY, headers=headers) as resp:
        assert resp.status == 404
    [record] = await gw.records(expected=1)
    stored = json.dumps(record.as_row(), default=str)
    assert provider_key not in stored
    assert gw.key not in stored
    assert record.provider_api_key_hash == IsStr(regex=r"[0-9a-f]{16}")
    assert all(secret not in caplog.text for secret in (provider_key, gw.key, "AIza-secret"))


async def test_non_json_body_is_forwarded_and_recorded_with_unknown_model(
    gw: Harness, http: aiohttp.ClientSession
) -> None:
    async with http.post(gw.url + CHAT, data=b"not json at all", headers=gw.headers()) as resp:
        status = resp.status
    assert gw.sim.requests[0].body == b"not json at all"
    [record] = await gw.records(expected=1)
    assert (record.status_code, record.model) == (status, None)
    assert record.error_message == IsStr(regex=r".*request body is not JSON; model unknown.*")


async def test_body_over_the_limit_is_413_and_recorded(sim: SimServer, tmp_path, http: aiohttp.ClientSession) -> None:
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", max_body_bytes=1024)
    gw = await start_gateway(settings, sim=sim)
    try:
        async with http.post(gw.url + CHAT, data=b"x" * 4096, headers=gw.headers()) as resp:
            assert (resp.status, (await resp.json())["error"]["type"]) == (413, "invalid_request_error")
        [record] = await gw.records(expected=1)
        assert (record.status_code, record.error_message) == (413, "request body larger than 1024 bytes")
        assert sim.requests == []
    finally:
        await gw.runner.cleanup()


async def test_malformed_upstream_json_streams_through_and_is_noted(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers(**{"X-Sim-Malformed": "1"})) as resp:
        body = await resp.read()
    assert body
    assert resp.status == 200
    [record] = await gw.records(expected=1)
    assert (record.usage_status, record.pricing_status, record.total_cost) == ("unparseable", "no_usage", None)
    assert record.error_message == IsStr(regex=r".*malformed.*")


async def test_malformed_upstream_stream_streams_through_and_is_noted(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = gw.headers(**{"X-Sim-Malformed": "1"})
    async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=headers) as resp:
        body = await resp.read()
    assert body.startswith(b"data: ")
    [record] = await gw.records(expected=1)
    assert record.usage_status in {"unparseable", "missing"}
    assert record.error_message


async def test_upstream_unreachable_is_502_in_provider_shape(tmp_path, http: aiohttp.ClientSession) -> None:
    async with SimServer() as sim:
        settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool")
    # the sim is stopped now: its port refuses connections
    gw = await start_gateway(settings, sim=sim)
    try:
        async with http.post(gw.url + "/v1/messages", json=CHAT_BODY, headers=gw.headers()) as resp:
            assert (resp.status, (await resp.json())["error"]["type"]) == (502, "api_error")
            request_id = resp.headers["X-Majordomo-Request-Id"]
        [record] = await gw.records(expected=1)
        assert (record.id, record.status_code) == (request_id, 502)
        assert record.error_message == IsStr(regex=r"upstream unreachable: .*")
    finally:
        await gw.runner.cleanup()


async def test_upstream_silent_before_headers_is_504(tmp_path, http: aiohttp.ClientSession) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with SimServer() as sim:
        settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", upstream_timeout=0.2)
        settings = replace(settings, anthropic_base_url=f"http://127.0.0.1:{port}")
        gw = await start_gateway(settings, sim=sim)
        try:
            async with http.post(gw.url + "/v1/messages", json=CHAT_BODY, headers=gw.headers()) as resp:
                assert (resp.status, (await resp.json())["error"]["type"]) == (504, "api_error")
            [record] = await gw.records(expected=1)
            assert (record.status_code, record.error_message) == (504, "upstream timed out")
        finally:
            await gw.runner.cleanup()
            silent.close()


async def test_upstream_silent_mid_response_truncates_and_is_noted(
    sim: SimServer, tmp_path, http: aiohttp.ClientSession
) -> None:
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", upstream_timeout=0.2)
    gw = await start_gateway(settings, sim=sim)
    try:
        headers = gw.headers(**{"X-Sim-Fixture": "openai/chat_stream_usage_text", "X-Sim-Hold": "1"})
        async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=headers) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()  # the client sees a cut stream, not a complete one
        [record] = await gw.records(expected=1)
        assert (record.status_code, record.usage_status) == (200, "partial")
        assert record.error_message == "upstream timed out mid-response"
    finally:
        await gw.runner.cleanup()


async def test_upstream_error_status_passes_through_and_is_recorded(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers(**{"X-Sim-Status": "500"})) as resp:
        assert resp.status == 500
    [record] = await gw.records(expected=1)
    assert (record.status_code, record.usage_status, record.total_cost) == (500, "missing", None)


async def test_client_disconnect_mid_stream_closes_upstream_and_keeps_partial_usage(
    gw: Harness, http: aiohttp.ClientSession
) -> None:
    headers = gw.headers(
        **{"X-Sim-Fixture": "anthropic/messages_stream_text", "X-Sim-Delay-Ms": "30", "anthropic-version": "2023-06-01"}
    )
    resp = await http.post(gw.url + "/v1/messages", json={"model": "claude-3-haiku", "stream": True}, headers=headers)
    await resp.content.readany()  # message_start has arrived
    resp.close()  # the client goes away mid-stream
    await gw.sim.wait_finished()
    assert gw.sim.requests[0].disconnected  # the gateway closed its upstream call
    [record] = await gw.records(expected=1)
    assert (record.status_code, record.usage_status) == (499, "partial")
    assert record.input_tokens is not None
    assert record.error_message == IsStr(regex=r".*client disconnected.*")


async def test_gemini_openai_route_goes_to_the_compat_path(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = gw.headers(**{"X-Majordomo-Provider": "gemini-openai"})
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(gw.url + CHAT, json=body, headers=headers) as resp:
        assert resp.status == 200
    assert gw.sim.requests[0].path == "/v1beta/openai/chat/completions"
    [record] = await gw.records(expected=1)
    assert (record.provider, record.model, record.pricing_status) == ("gemini-openai", "gemini-2.5-flash", "priced")


async def test_health_and_readyz(gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.get(gw.url + "/health") as resp:
        assert (resp.status, await resp.json()) == (200, {"status": "ok"})
    async with http.get(gw.url + "/readyz") as resp:
        body = await resp.json()
    assert resp.status == 200
    assert body["status"] == "ok"
    assert body["store"]["ok"] is True
    assert body["writer"]["spool_depth"] == 0


async def test_counts_genai_prices_refuses_are_flagged_unpriceable_not_zero(
    tmp_path, http: aiohttp.ClientSession
) -> None:
    """A provider reporting more cached than input tokens: recorded as reported, never priced at $0."""
    inconsistent = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 50},
        },
    }

    async def reply(request: web.Request) -> web.Response:
        return web.json_response(inconsistent)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    async with SimServer() as sim:
        upstream = f"http://127.0.0.1:{runner.addresses[0][1]}"
        settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", openai_base_url=upstream)
        gw = await start_gateway(settings, sim=sim)
        try:
            async with http.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers()) as resp:
                assert resp.status == 200
            [record] = await gw.records(expected=1)
        finally:
            await gw.runner.cleanup()
            await runner.cleanup()
    assert (record.usage_status, record.pricing_status, record.total_cost) == ("reported", "unpriceable", None)
    assert (record.input_tokens, record.cached_tokens) == (10, 50)
    assert record.error_message == "genai-prices refused these token counts (e.g. more cached than input tokens)"


async def test_unknown_model_is_flagged_and_never_priced_at_zero(gw: Harness, http: aiohttp.ClientSession) -> None:
    body = {**CHAT_BODY, "model": "my-finetune-that-nobody-prices"}
    async with http.post(gw.url + CHAT, json=body, headers=gw.headers()) as resp:
        assert resp.status == 200
    [record] = await gw.records(expected=1)
    assert (record.model, record.usage_status, record.pricing_status, record.total_cost) == (
        "my-finetune-that-nobody-prices",
        "reported",
        "unknown_model",
        None,
    )
    assert record.input_tokens > 0


async def test_upstream_cookies_are_passed_back_but_never_replayed_for_other_clients(
    tmp_path, http: aiohttp.ClientSession
) -> None:
    seen_cookies: list[str | None] = []

    async def reply(request: web.Request) -> web.Response:
        seen_cookies.append(request.headers.get("Cookie"))
        response = web.json_response({"id": "x", "object": "chat.completion", "choices": []})
        response.set_cookie("__cf_bm", "client-a-session")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    async with SimServer() as sim:
        upstream = f"http://localhost:{runner.addresses[0][1]}"  # a host name: cookie jars ignore bare IPs
        settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", openai_base_url=upstream)
        gw = await start_gateway(settings, sim=sim)
        try:
            for _ in range(2):
                async with (
                    aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as fresh_client,
                    fresh_client.post(gw.url + CHAT, json=CHAT_BODY, headers=gw.headers()) as resp,
                ):
                    assert resp.headers["Set-Cookie"].startswith("__cf_bm=client-a-session")
        finally:
            await gw.runner.cleanup()
            await runner.cleanup()
    assert seen_cookies == [None, None]


async def test_upstream_errors_never_carry_a_query_key_into_logs_or_records(
    sim: SimServer, tmp_path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broken = "http://127.0.0.1:notaport"  # aiohttp's error names the whole upstream URL, query included
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", gemini_base_url=broken)
    gw = await start_gateway(settings, sim=sim)
    try:
        path = "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-query-secret"
        async with http.post(gw.url + path, json={"contents": []}, headers=gw.headers()) as resp:
            assert resp.status == 502
            body = await resp.text()
        [record] = await gw.records(expected=1)
    finally:
        await gw.runner.cleanup()
    assert record.error_message == IsStr(regex=r"upstream unreachable: .*key=\*\*\*.*")
    assert "AIza-query-secret" not in body + record.error_message + caplog.text


async def test_client_leaving_before_upstream_answers_is_recorded_as_499(tmp_path, http: aiohttp.ClientSession) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    async with SimServer() as sim:
        settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool")
        settings = replace(settings, openai_base_url=f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}")
        gw = await start_gateway(settings, sim=sim)
        try:
            with pytest.raises(asyncio.TimeoutError):
                async with http.post(
                    gw.url + CHAT, json=CHAT_BODY, headers=gw.headers(), timeout=aiohttp.ClientTimeout(total=0.3)
                ):
                    pass
            [record] = await gw.records(expected=1)
        finally:
            await gw.runner.cleanup()
            silent.close()
    assert (record.status_code, record.usage_status, record.total_cost) == (499, "missing", None)
    assert record.error_message == "client disconnected before the response started"
