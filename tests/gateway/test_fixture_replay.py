"""Every recorded provider exchange, replayed through the gateway: bytes unchanged, usage and cost right."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import genai_prices
import pytest
from dirty_equals import IsStr
from gateway_harness import Harness

from majordomo_otel.sim import load_fixtures

FIXTURES = load_fixtures()
_GENAI_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}


def normalised(fixture: Any) -> dict[str, int | None]:
    """The fixture's `expected_usage` in the convention of docs/architecture.md (all input, all billed output)."""
    expected = fixture.expected_usage
    provider = fixture.provider
    input_tokens, output = expected["input_tokens"], expected["output_tokens"]
    cache_read, cache_write = expected["cache_read_tokens"], expected["cache_write_tokens"]
    if provider == "anthropic" and input_tokens is not None:
        input_tokens += (cache_read or 0) + (cache_write or 0)  # Anthropic's input excludes cache counts
    if provider == "gemini" and output is not None and expected["reasoning_tokens"]:
        output += expected["reasoning_tokens"]  # Gemini bills thoughts on top of candidates
    return {
        "input_tokens": input_tokens,
        "output_tokens": output,
        "cached_tokens": cache_read,
        "cache_creation_tokens": cache_write,
        "reasoning_tokens": expected["reasoning_tokens"],
    }


@pytest.mark.parametrize("name", sorted(FIXTURES))
async def test_replay_is_byte_identical_and_recorded(name: str, gw: Harness, http: aiohttp.ClientSession) -> None:
    fixture = FIXTURES[name]
    request = fixture.request
    headers = gw.headers(**{"X-Sim-Fixture": name, "X-Majordomo-Feature": "replay"}, **request.get("headers", {}))
    async with http.post(gw.url + request["path"], data=json.dumps(request["body"]), headers=headers) as resp:
        body = await resp.read()
        status = resp.status
        request_id = resp.headers["X-Majordomo-Request-Id"]
        content_encoding = resp.headers.get("Content-Encoding")

    assert (status, body) == (fixture.status, fixture.wire_body())
    assert content_encoding == fixture.headers.get("content-encoding")

    [record] = await gw.records(expected=1)
    tokens = {key: getattr(record, key) for key in normalised(fixture)}
    assert record.id == request_id
    assert record.raw_metadata == {"Feature": "replay"}
    assert record.status_code == status
    assert record.trace_id == IsStr(regex=r"[0-9a-f]{32}")
    if status >= 400:
        assert (record.usage_status, record.pricing_status, record.total_cost) == ("missing", "no_usage", None)
        return
    if fixture.expected_usage["input_tokens"] is None:  # a stream that carries no usage
        assert (record.usage_status, record.pricing_status, record.total_cost) == ("missing", "no_usage", None)
        assert all(value is None for value in tokens.values())
        return
    assert tokens == normalised(fixture)
    assert record.usage_status == "reported"
    assert record.model == fixture.expected_usage["model"]
    _assert_cost_matches_genai_prices(record, fixture)


_FLAVOR = {"chat_completions": "chat", "responses": "responses", "openai_compat": "chat"}


def _assert_cost_matches_genai_prices(record: Any, fixture: Any) -> None:
    """Our cost equals genai-prices' for the same response, priced as Pydantic AI prices it.

    Non-streamed bodies go through genai-prices' own extractor (Pydantic AI's path, which also
    sees audio tokens); streams are priced from the recorded token counts.
    """
    provider_id = _GENAI_PROVIDER[fixture.provider]
    if isinstance(fixture.body, dict):
        usage = genai_prices.extract_usage(
            fixture.body, provider_id=provider_id, api_flavor=_FLAVOR.get(fixture.api, "default")
        ).usage
    else:
        usage = genai_prices.Usage(
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cache_read_tokens=record.cached_tokens,
            cache_write_tokens=record.cache_creation_tokens,
        )
    try:
        expected = genai_prices.calc_price(usage, record.model, provider_id=provider_id)
    except LookupError:
        assert (record.pricing_status, record.total_cost) == ("unknown_model", None)
        return
    assert record.pricing_status == "priced"
    assert abs(Decimal(record.total_cost) - expected.total_price) < Decimal("1e-9")
