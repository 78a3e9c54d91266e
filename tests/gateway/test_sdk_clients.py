"""Real SDK clients and Pydantic AI agents, unchanged but for the base URL, through the gateway.

Each test checks both ends: the SDK gets what the stand-in provider sent, and the stored record carries the
sim's own usage, priced by genai-prices, with the right provider, model, streamed flag and Title-Case tags.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import openai
import pytest
from e2e_rows import expected_row, row, wire_streamed
from gateway_harness import Harness
from google import genai
from google.genai import types as genai_types
from pydantic_ai import Agent
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.google import GoogleProvider
from pydantic_ai.providers.openai import OpenAIProvider

from majordomo_otel.sim import SimServer, SimUsage

# google-genai subclasses aiohttp.ClientSession; aiohttp warns about that, not about us.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

PROMPT = "What is the capital of France?"
ANSWER = "sim answer to: What is the capital of France?"
TAG_HEADERS = {
    "X-Majordomo-Feature": "sdk-e2e",
    "X-Majordomo-Step": "answer",
    "X-Majordomo-User-Id": "user-42",
    "X-Majordomo-Session-Id": "session-7",
}
METADATA = {"Feature": "sdk-e2e", "Step": "answer", "User-Id": "user-42", "Session-Id": "session-7"}
# What each provider can report on the wire: cache reads everywhere, reasoning where it is counted apart,
# cache writes where they exist. (Anthropic folds thinking into output_tokens; the compat route reports none.)
OPENAI_SIM = {"X-Sim-Cached-Tokens": "7", "X-Sim-Reasoning-Tokens": "3", "X-Sim-Chunks": "3"}
ANTHROPIC_SIM = {"X-Sim-Cached-Tokens": "7", "X-Sim-Cache-Write-Tokens": "5", "X-Sim-Chunks": "3"}
GEMINI_SIM = {"X-Sim-Cached-Tokens": "7", "X-Sim-Reasoning-Tokens": "3", "X-Sim-Chunks": "3"}


def gateway_headers(gw: Harness, sim_headers: dict[str, str], **extra: str) -> dict[str, str]:
    return {"X-Majordomo-Key": gw.key, **TAG_HEADERS, **sim_headers, **extra}


def usage_of(sim: SimServer, index: int = 0) -> SimUsage | None:
    return sim.requests[index].usage


@pytest.fixture
async def oai(gw: Harness) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(
        base_url=gw.url + "/v1", api_key="sk-test", max_retries=0, default_headers=gateway_headers(gw, OPENAI_SIM)
    )
    async with client:
        yield client


@pytest.fixture
async def claude(gw: Harness) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=gw.url, api_key="sk-ant-test", max_retries=0, default_headers=gateway_headers(gw, ANTHROPIC_SIM)
    )
    async with client:
        yield client


@pytest.fixture
async def gemini(gw: Harness) -> AsyncIterator[genai.Client]:
    options = genai_types.HttpOptions(base_url=gw.url, headers=gateway_headers(gw, GEMINI_SIM))
    client = genai.Client(api_key="gemini-test", http_options=options)
    yield client
    await client.aio.aclose()


# -- OpenAI SDK ------------------------------------------------------------------------------------------------


async def test_openai_chat(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    usage = usage_of(gw.sim)
    assert completion.usage is not None
    assert (completion.choices[0].message.content, completion.usage.prompt_tokens) == (ANSWER, usage.input_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage, provider="openai", model="gpt-4o-mini", operation="chat_completions", streamed=False, metadata=METADATA
    )


async def test_openai_chat_stream_with_usage(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = usage_of(gw.sim)
    assert chunks[-1].usage is not None
    assert (text, chunks[-1].usage.completion_tokens) == (ANSWER, usage.output_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage, provider="openai", model="gpt-4o-mini", operation="chat_completions", streamed=True, metadata=METADATA
    )


async def test_openai_responses(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(model="gpt-4o-mini", input=PROMPT)
    usage = usage_of(gw.sim)
    assert response.usage is not None
    assert (response.output_text, response.usage.input_tokens) == (ANSWER, usage.input_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage, provider="openai", model="gpt-4o-mini", operation="responses", streamed=False, metadata=METADATA
    )


async def test_openai_responses_stream(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    stream = await oai.responses.create(model="gpt-4o-mini", input=PROMPT, stream=True)
    events = [event async for event in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    usage = usage_of(gw.sim)
    assert completed.type == "response.completed"
    assert (text, completed.response.usage.output_tokens) == (ANSWER, usage.output_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage, provider="openai", model="gpt-4o-mini", operation="responses", streamed=True, metadata=METADATA
    )


async def test_openai_embeddings(gw: Harness, oai: openai.AsyncOpenAI) -> None:
    result = await oai.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    usage = usage_of(gw.sim)
    assert ([len(d.embedding) for d in result.data], result.usage.prompt_tokens) == ([16, 16], usage.input_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage,
        provider="openai",
        model="text-embedding-3-small",
        operation="embeddings",
        streamed=False,
        metadata=METADATA,
    )


# -- Anthropic SDK ---------------------------------------------------------------------------------------------


async def test_anthropic_messages(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
    )
    usage = usage_of(gw.sim)
    assert usage is not None
    raw_input = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens  # Anthropic's own count
    assert (message.content[0].text, message.usage.input_tokens) == (ANSWER, raw_input)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage, provider="anthropic", model="claude-haiku-4-5", operation="messages", streamed=False, metadata=METADATA
    )


async def test_anthropic_messages_stream(gw: Harness, claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        message = await stream.get_final_message()
    usage = usage_of(gw.sim)
    assert (message.content[0].text, message.usage.output_tokens) == (ANSWER, usage.output_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage, provider="anthropic", model="claude-haiku-4-5", operation="messages", streamed=True, metadata=METADATA
    )


# -- google-genai SDK (Gemini native) --------------------------------------------------------------------------


async def test_gemini_generate_content(gw: Harness, gemini: genai.Client) -> None:
    response = await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    usage = usage_of(gw.sim)
    assert response.usage_metadata is not None
    assert (response.text, response.usage_metadata.prompt_token_count) == (ANSWER, usage.input_tokens)  # type: ignore[union-attr]
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage,
        provider="gemini",
        model="gemini-2.5-flash",
        operation="generate_content",
        streamed=False,
        metadata=METADATA,
    )


async def test_gemini_stream_generate_content(gw: Harness, gemini: genai.Client) -> None:
    stream = await gemini.aio.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT)
    chunks = [chunk async for chunk in stream]
    usage = usage_of(gw.sim)
    assert gw.sim.requests[0].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert "".join(c.text or "" for c in chunks) == ANSWER
    [record] = await gw.records(expected=1)
    assert row(record) == expected_row(
        usage,
        provider="gemini",
        model="gemini-2.5-flash",
        operation="generate_content",
        streamed=True,
        metadata=METADATA,
    )


# -- Pydantic AI agents ----------------------------------------------------------------------------------------


def _openai_provider(gw: Harness) -> OpenAIProvider:
    return OpenAIProvider(base_url=gw.url + "/v1", api_key="sk-test")


# name → (model factory, sim controls, gateway provider, model name, operation)
AGENTS: dict[str, tuple[Callable[[Harness], Model], dict[str, str], str, str, str]] = {
    "openai-chat": (
        lambda gw: OpenAIChatModel("gpt-4o-mini", provider=_openai_provider(gw)),
        OPENAI_SIM,
        "openai",
        "gpt-4o-mini",
        "chat_completions",
    ),
    "openai-responses": (
        lambda gw: OpenAIResponsesModel("gpt-4o-mini", provider=_openai_provider(gw)),
        OPENAI_SIM,
        "openai",
        "gpt-4o-mini",
        "responses",
    ),
    "anthropic": (
        lambda gw: AnthropicModel("claude-haiku-4-5", provider=AnthropicProvider(base_url=gw.url, api_key="sk-ant")),
        ANTHROPIC_SIM,
        "anthropic",
        "claude-haiku-4-5",
        "messages",
    ),
    "google": (
        lambda gw: GoogleModel("gemini-2.5-flash", provider=GoogleProvider(base_url=gw.url, api_key="gemini-test")),
        GEMINI_SIM,
        "gemini",
        "gemini-2.5-flash",
        "generate_content",
    ),
    "gemini-openai": (
        lambda gw: OpenAIChatModel("gemini-2.5-flash", provider=_openai_provider(gw)),
        {"X-Majordomo-Provider": "gemini-openai", "X-Sim-Chunks": "3"},
        "gemini-openai",
        "gemini-2.5-flash",
        "chat_completions",
    ),
}


def tool_agent(gw: Harness, name: str, calls: list[str]) -> Agent[None, str]:
    factory, sim_headers, *_ = AGENTS[name]
    agent = Agent(factory(gw), model_settings={"extra_headers": gateway_headers(gw, sim_headers)})

    @agent.tool_plain
    def get_capital(country: str) -> str:
        calls.append(country)
        return "Paris"

    return agent


def sim_totals(sim: SimServer) -> tuple[int, int, int]:
    usages = [r.usage for r in sim.requests]
    assert all(u is not None for u in usages)
    return (
        len(usages),
        sum(u.input_tokens for u in usages),  # type: ignore[union-attr]
        sum(u.output_tokens for u in usages),  # type: ignore[union-attr]
    )


async def assert_agent_rows(gw: Harness, name: str) -> None:
    """One record per model request (the tool call, then the answer), each equal to what the sim sent and
    flagged streamed exactly when the request went out as a stream."""
    _, _, provider, model, operation = AGENTS[name]
    records = await gw.records(expected=2)
    expected = [
        expected_row(
            r.usage, provider=provider, model=model, operation=operation, streamed=wire_streamed(r), metadata=METADATA
        )
        for r in gw.sim.requests
    ]
    assert [row(r) for r in records] == expected


@pytest.mark.parametrize("name", sorted(AGENTS))
async def test_agent_run(gw: Harness, name: str) -> None:
    calls: list[str] = []
    result = await tool_agent(gw, name, calls).run(PROMPT)
    usage: Any = result.usage
    assert (result.output, calls) == (ANSWER, ["a"])
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == sim_totals(gw.sim)
    await assert_agent_rows(gw, name)


@pytest.mark.parametrize("name", sorted(AGENTS))
async def test_agent_run_stream(gw: Harness, name: str) -> None:
    calls: list[str] = []
    async with tool_agent(gw, name, calls).run_stream(PROMPT) as result:
        output = await result.get_output()
    usage: Any = result.usage
    assert (output, calls) == (ANSWER, ["a"])
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == sim_totals(gw.sim)
    assert wire_streamed(gw.sim.requests[-1])  # the answer, at least, was streamed
    await assert_agent_rows(gw, name)
