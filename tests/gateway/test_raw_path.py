"""Paths go upstream raw, still percent-encoded: no `%3F` becomes a query, no `%23` a fragment, no `%2F` a new segment.

And a `?key=` smuggled in encoded (`%3Fkey=`) is masked wherever the gateway writes a path down.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest
from gateway_harness import Harness, sim_settings, start_gateway
from yarl import URL

from majordomo_otel.sim import SimServer

GENERATE = "/v1beta/models/gemini-2.5-flash{}:generateContent"


async def post(http: aiohttp.ClientSession, gw: Harness, path: str, **headers: str) -> int:
    """POST to `path` exactly as written (aiohttp would otherwise decode a `%26` to `&` before sending)."""
    async with http.post(
        URL(gw.url + path, encoded=True), json={"contents": []}, headers=gw.headers(**headers)
    ) as resp:
        return resp.status


@pytest.mark.parametrize("encoded", ["%3Fx", "%23x", "%2Fx", "%3Fkey=AIza-in-path%26alt=sse"])
async def test_encoded_characters_in_a_gemini_model_reach_upstream_still_encoded(
    gw: Harness, http: aiohttp.ClientSession, encoded: str
) -> None:
    path = GENERATE.format(encoded)
    assert (await post(http, gw, path), [r.path for r in gw.sim.requests]) == (200, [path])


async def test_the_query_reaches_upstream_as_sent(gw: Harness, http: aiohttp.ClientSession) -> None:
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&x=a%2Bb%20c%26d"
    assert (await post(http, gw, path), [r.path for r in gw.sim.requests]) == (200, [path])


async def test_a_key_smuggled_into_the_path_is_masked_in_record_log_and_spans(
    sim: SimServer, tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="majordomo_otel.gateway.access")
    settings = sim_settings(sim, f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "spool", access_log=True)
    gw = await start_gateway(settings, sim=sim)
    path = GENERATE.format("%3Fkey=AIza-smuggled")  # decoded, this was a real `?key=` upstream and in the log
    try:
        status = await post(http, gw, path, **{"X-Sim-Status": "404"})  # what Gemini says to that model name
        [record] = await gw.records(expected=1)
    finally:
        await gw.runner.cleanup()
    masked = "/v1beta/models/gemini-2.5-flash%3Fkey=***"
    assert (status, [r.path for r in sim.requests]) == (404, [path])  # forwarded exactly as sent
    assert (record.request_path, record.request_model, record.model) == (masked, masked[15:], masked[15:])
    assert [r.args[2] for r in caplog.records if r.name == "majordomo_otel.gateway.access"] == [masked]  # type: ignore[index]
    spans = json.dumps([dict(span.attributes or {}) for span in gw.spans.get_finished_spans()])
    assert "AIza-smuggled" not in json.dumps(record.as_row(), default=str) + caplog.text + spans
