"""A used-up budget reaches each provider's real SDK as that SDK's own rate-limit error, and it does not retry."""

from __future__ import annotations

import time

import anthropic
import openai
import pytest
from dirty_equals import IsStr
from gateway_harness import Harness
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from majordomo_otel.gateway.budgets import create_budget, period_at
from majordomo_otel.gateway.budgets._store import apply_flush

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

MESSAGE = IsStr(regex=r".*majordomo gateway: budget 'sdk' used up: \$0\.001 of \$0\.001 this day \(UTC\); resets .*")


@pytest.fixture
async def used_up(budget_gw: Harness) -> dict[str, str]:
    """A budget on feature=sdk whose window already holds its limit; the headers that fall under it."""
    store = budget_gw.gateway.store
    budget = await create_budget(store, "sdk", "feature=sdk", limit="0.001", window="day")
    await apply_flush(store, "elsewhere", 1, {(budget.id, period_at(budget.window, "UTC", time.time()).key, ""): 10**9})
    await budget_gw.gateway.budgets.sync()
    return {"X-Majordomo-Key": budget_gw.key, "X-Majordomo-Feature": "sdk"}


async def refused_rows(gw: Harness) -> list[int | None]:
    return [r.status_code for r in await gw.records()]


async def test_openai_raises_its_rate_limit_error_once(budget_gw: Harness, used_up: dict[str, str]) -> None:
    client = openai.AsyncOpenAI(base_url=budget_gw.url + "/v1", api_key="sk-test", default_headers=used_up)
    async with client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert (caught.value.status_code, caught.value.message, await refused_rows(budget_gw)) == (429, MESSAGE, [429])
    assert budget_gw.sim.requests == []


async def test_anthropic_raises_its_rate_limit_error_once(budget_gw: Harness, used_up: dict[str, str]) -> None:
    client = anthropic.AsyncAnthropic(base_url=budget_gw.url, api_key="sk-ant-test", default_headers=used_up)
    async with client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    body = caught.value.body
    assert (caught.value.status_code, body, await refused_rows(budget_gw)) == (
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": MESSAGE}},
        [429],
    )
    assert budget_gw.sim.requests == []


async def test_gemini_raises_resource_exhausted(budget_gw: Harness, used_up: dict[str, str]) -> None:
    client = genai.Client(
        api_key="gemini-test", http_options=genai_types.HttpOptions(base_url=budget_gw.url, headers=used_up)
    )
    try:
        with pytest.raises(genai_errors.ClientError) as caught:
            await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    finally:
        await client.aio.aclose()
    assert (caught.value.code, caught.value.status, caught.value.message, await refused_rows(budget_gw)) == (
        429,
        "RESOURCE_EXHAUSTED",
        MESSAGE,
        [429],
    )
    assert budget_gw.sim.requests == []
