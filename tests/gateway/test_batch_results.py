"""A message batch's `results_url` points at the gateway, so the SDK fetches the results through it.

Left as the provider sent it, the Anthropic SDK's `batches.results()` would go straight to the provider:
unrecorded, and with whatever key sits in the SDK's slot (a Majordomo key, with the gateway holding the
provider key) sent to the provider.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from gateway_harness import Harness

from majordomo_otel.gateway import batch_urls
from majordomo_otel.gateway.batch_urls import ResultsUrlFilter

MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]
BATCH: Any = [
    {"custom_id": f"q{n}", "params": {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": MESSAGES}}
    for n in range(2)
]


@pytest.fixture
async def claude(gw: Harness) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=gw.url, api_key="sk-ant-test", max_retries=0, default_headers=gw.headers()
    ) as client:
        yield client


async def test_an_ended_batch_names_the_gateway_as_where_its_results_are(
    gw: Harness, claude: anthropic.AsyncAnthropic
) -> None:
    created = await claude.messages.batches.create(requests=BATCH)
    again = await claude.messages.batches.retrieve(created.id)
    listed = [b async for b in claude.messages.batches.list()]
    expected = f"{gw.url}/v1/messages/batches/{created.id}/results"
    assert (created.results_url, again.results_url, [b.results_url for b in listed]) == (None, expected, [expected])


async def test_the_sdk_downloads_batch_results_through_the_gateway(
    gw: Harness, claude: anthropic.AsyncAnthropic
) -> None:
    created = await claude.messages.batches.create(requests=BATCH)
    await claude.messages.batches.retrieve(created.id)
    results = [r async for r in await claude.messages.batches.results(created.id)]
    records = await gw.records(expected=3)
    assert (
        [(r.custom_id, r.result.type) for r in results],
        [(r.request_method, r.request_path, r.status_code, r.pricing_status) for r in records][-1],
        (gw.sim.requests[-1].path, gw.sim.requests[-1].header("authorization")),
    ) == (
        [("q0", "succeeded"), ("q1", "succeeded")],
        ("GET", f"/v1/messages/batches/{created.id}/results", 200, "not_billable"),
        (f"/v1/messages/batches/{created.id}/results", "Bearer sk-ant-test"),  # the SDK's key, via the gateway
    )


async def test_behind_a_load_balancer_the_forwarded_origin_is_used(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = {**gw.headers(), "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
    async with http.post(gw.url + "/v1/messages/batches", json={"requests": BATCH}, headers=headers) as resp:
        batch_id = (await resp.json())["id"]
    forwarded = {**headers, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "llm.example.com"}
    async with http.get(f"{gw.url}/v1/messages/batches/{batch_id}", headers=forwarded) as resp:
        body = await resp.json()
    assert body["results_url"] == f"https://llm.example.com/v1/messages/batches/{batch_id}/results"


async def test_a_provider_prefix_the_client_used_is_kept(gw: Harness, http: aiohttp.ClientSession) -> None:
    headers = {**gw.headers(), "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
    url = gw.url + "/anthropic/v1/messages/batches"
    async with http.post(url, json={"requests": BATCH}, headers=headers) as resp:
        batch_id = (await resp.json())["id"]
    async with http.get(f"{url}/{batch_id}", headers=headers) as resp:
        body = await resp.json()
    assert body["results_url"] == f"{gw.url}/anthropic/v1/messages/batches/{batch_id}/results"


def test_only_the_results_url_changes_byte_for_byte() -> None:
    body = (
        b'{"id": "msgbatch_1",\n  "results_url":   "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results",'
        b' "note": "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results", "x": "\\u00e9"}'
    )
    rewritten = _filtered(body, "http://gw:7680", chunk=7)
    assert rewritten == body.replace(
        b'"https://api.anthropic.com/v1/messages/batches/msgbatch_1/results",',
        b'"http://gw:7680/v1/messages/batches/msgbatch_1/results",',
        1,
    )


def test_a_list_page_has_every_batch_rewritten() -> None:
    page = {
        "data": [
            {"id": f"b{n}", "results_url": f"https://proxy.corp/anthropic/v1/messages/batches/b{n}/results"}
            for n in range(3)
        ]
        + [{"id": "b3", "results_url": None}],
        "has_more": False,
    }
    rewritten = json.loads(_filtered(json.dumps(page).encode(), "https://gw"))
    assert [b["results_url"] for b in rewritten["data"]] == [
        "https://gw/v1/messages/batches/b0/results",
        "https://gw/v1/messages/batches/b1/results",
        "https://gw/v1/messages/batches/b2/results",
        None,
    ]


def test_a_body_larger_than_the_bound_passes_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_urls, "MAX_BUFFERED", 64)
    body = b'{"results_url": "https://api.anthropic.com/v1/messages/batches/b/results", "pad": "' + b"x" * 100 + b'"}'
    assert _filtered(body, "http://gw", chunk=16) == body


def _filtered(body: bytes, base: str, chunk: int = 1 << 20) -> bytes:
    f = ResultsUrlFilter(base)
    out = b"".join(f.feed(body[i : i + chunk]) for i in range(0, len(body), chunk))
    return out + f.flush()
