"""Text no store takes (raw bytes, lone surrogates, NUL) never leaves a request unbilled: on both stores the
row is there, priced, with the text replaced and the change named; /readyz shows no record contents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from dirty_equals import IsStr
from gateway_harness import Harness, sim_settings, start_gateway
from gateway_harness import raw_post as gateway_raw_post

from majordomo_otel.sim import SimServer

CHAT = "/v1/chat/completions"
REPLACED = "unstorable characters (invalid bytes, surrogates or NUL) replaced in: "


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_gw(request: pytest.FixtureRequest, sim: SimServer, tmp_path: Path, pg_url: str) -> AsyncIterator[Harness]:
    url = f"sqlite:///{tmp_path / 'gw.db'}" if request.param == "sqlite" else pg_url
    harness = await start_gateway(sim_settings(sim, url, tmp_path / "spool"), sim=sim)
    try:
        yield harness
    finally:
        await harness.runner.cleanup()


async def raw_post(harness: Harness, head: bytes, body: bytes) -> int:
    return await gateway_raw_post(harness.url, CHAT, b"X-Majordomo-Key: " + harness.key.encode() + b"\r\n" + head, body)


def chat(model: str = "gpt-4o-mini") -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()


async def test_raw_0xff_in_a_tag_header_is_replaced_and_the_row_priced(any_gw: Harness) -> None:
    assert await raw_post(any_gw, b"X-Majordomo-User-Id: al\xffice", chat()) == 200
    [record] = await any_gw.records(expected=1)
    assert (record.raw_metadata, record.pricing_status, record.error_message) == (
        {"User-Id": "al\ufffdice"},
        "priced",
        REPLACED + "tag User-Id",
    )


async def test_percent_encoded_nul_in_a_tag_is_replaced(any_gw: Harness, http: aiohttp.ClientSession) -> None:
    async with http.post(
        any_gw.url + CHAT, data=chat(), headers=any_gw.headers(**{"X-Majordomo-User-Id": "alice%00"})
    ) as resp:
        assert resp.status == 200
    [record] = await any_gw.records(expected=1)
    assert (record.raw_metadata, record.pricing_status) == ({"User-Id": "alice\ufffd"}, "priced")


@pytest.mark.parametrize("model", ["gpt-4o-mini\ud800", "x\u0000"])
async def test_unstorable_model_in_the_body_is_replaced(
    any_gw: Harness, http: aiohttp.ClientSession, model: str
) -> None:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    async with http.post(any_gw.url + CHAT, data=body, headers=any_gw.headers()) as resp:
        assert resp.status == 200
    [record] = await any_gw.records(expected=1)
    assert (record.request_model, record.error_message, any_gw.gateway.writer.stats()["records_rejected"]) == (
        model.replace("\ud800", "\ufffd").replace("\x00", "\ufffd"),
        IsStr(regex=r".*unstorable characters .* replaced in: .*request_model.*"),
        0,
    )


async def test_readyz_never_shows_a_record(any_gw: Harness, http: aiohttp.ClientSession) -> None:
    assert await raw_post(any_gw, b"X-Majordomo-Feature: secret-feature-\xff", chat()) == 200
    await any_gw.records(expected=1)
    async with http.get(any_gw.url + "/readyz") as resp:
        text = await resp.text()
    assert (resp.status, "secret-feature" in text, json.loads(text)["writer"]["records_rejected"]) == (200, False, 0)
