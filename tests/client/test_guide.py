"""Each code block of the Pydantic AI + Majordomo guide, with only the corrected imports.

Corrections: `pydantic_ai.settings.AnthropicModelSettings` -> `pydantic_ai.models.anthropic`,
`pydantic_ai.settings.OpenAIChatModelSettings` -> `pydantic_ai.models.openai`,
`majordomo_frameworks.pydantic_ai` -> `majordomo_otel.pydantic_ai`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings
from pydantic_ai.models.openai import OpenAIChatModelSettings

from majordomo_otel.propagator import configure
from majordomo_otel.pydantic_ai import (
    PROVIDER_DEFAULTS,
    build_extra_headers,
    build_extra_headers_gemini,
    check_environment,
    create_model,
    get_gateway_url,
)
from majordomo_otel.sim import SimServer

from ._helpers import majordomo_headers
from .conftest import API_KEY

KEY = {"x-majordomo-key": "mdm_sk_test"}


def _sent(gateway: SimServer) -> list[tuple[str, str | None, dict[str, str]]]:
    return [
        (r.path, r.json.get("model") if isinstance(r.json, dict) else None, h)
        for r, h in zip(gateway.requests, majordomo_headers(gateway), strict=True)
    ]


async def test_quick_start(exporter, gateway: SimServer) -> None:
    model = create_model("anthropic")
    headers = build_extra_headers(feature="my-agent", step="main")
    agent = Agent(model=model, system_prompt="You are a helpful assistant.")
    await agent.run("Hello!", model_settings=AnthropicModelSettings(extra_headers=headers))
    assert _sent(gateway) == [
        (
            "/v1/messages",
            "claude-sonnet-4-6",
            {**KEY, "x-majordomo-feature": "my-agent", "x-majordomo-step": "main"},
        )
    ]


async def test_migration_from_direct_access(exporter, gateway: SimServer) -> None:
    model = create_model("anthropic", "claude-sonnet-4-6")
    agent = Agent(model=model, system_prompt="...")
    majordomo_headers = build_extra_headers(feature="my-agent")
    await agent.run(
        "Hello!",
        model_settings=AnthropicModelSettings(
            max_tokens=4096,
            anthropic_thinking={"type": "enabled", "budget_tokens": 10000},
            extra_headers=majordomo_headers,
        ),
    )
    assert _sent(gateway) == [("/v1/messages", "claude-sonnet-4-6", {**KEY, "x-majordomo-feature": "my-agent"})]


async def test_migration_from_another_proxy(exporter, gateway: SimServer) -> None:
    model = create_model("anthropic", "claude-sonnet-4-6")
    majordomo_headers = build_extra_headers(feature="my-agent")
    my_headers = {"X-Custom-Header": "value", **majordomo_headers}
    settings = AnthropicModelSettings(max_tokens=64000, extra_headers=my_headers)
    await Agent(model=model).run("Hello!", model_settings=settings)
    assert [(_sent(gateway)[0][2], gateway.requests[0].header_values("X-Custom-Header"))] == [
        ({**KEY, "x-majordomo-feature": "my-agent"}, ["value"])
    ]


async def test_keeping_your_model_settings(exporter, gateway: SimServer) -> None:
    model = create_model("anthropic", "claude-opus-4-1")
    agent = Agent(model=model, system_prompt="You are a research assistant.")
    settings = AnthropicModelSettings(
        max_tokens=64000,
        anthropic_thinking={"type": "enabled", "budget_tokens": 32000},
        anthropic_cache_instructions=True,
        anthropic_cache_tool_definitions="1h",
        anthropic_cache_messages=True,
        parallel_tool_calls=True,
        timeout=10 * 60,
        extra_headers=build_extra_headers(feature="research-agent", step="analysis", user_id="user-123"),
    )
    await agent.run("Analyze this data...", model_settings=settings)
    assert _sent(gateway) == [
        (
            "/v1/messages",
            "claude-opus-4-1",
            {
                **KEY,
                "x-majordomo-feature": "research-agent",
                "x-majordomo-step": "analysis",
                "x-majordomo-user-id": "user-123",
            },
        )
    ]


async def test_openai_example(exporter, gateway: SimServer) -> None:
    model = create_model("openai")
    agent = Agent(model=model, system_prompt="You are helpful.")
    await agent.run("Hello!", model_settings=OpenAIChatModelSettings(extra_headers=build_extra_headers(feature="chat")))
    assert _sent(gateway) == [("/v1/chat/completions", "gpt-4o", {**KEY, "x-majordomo-feature": "chat"})]


async def test_gemini_example(exporter, gateway: SimServer) -> None:
    model = create_model("gemini")
    agent = Agent(model=model, system_prompt="You are helpful.")
    await agent.run(
        "Hello!", model_settings=OpenAIChatModelSettings(extra_headers=build_extra_headers_gemini(feature="chat"))
    )
    assert _sent(gateway) == [
        (
            "/v1/chat/completions",
            "gemini-2.0-flash",
            {**KEY, "x-majordomo-feature": "chat", "x-majordomo-provider": "gemini-openai"},
        )
    ]


async def test_extended_thinking(exporter, gateway: SimServer) -> None:
    model = create_model("anthropic", "claude-opus-4-1")
    agent = Agent(model=model, system_prompt="Think step by step.")
    await agent.run(
        "Solve this complex problem...",
        model_settings=AnthropicModelSettings(
            max_tokens=64000,
            anthropic_thinking={"type": "enabled", "budget_tokens": 32000},
            extra_headers={
                "anthropic-beta": "interleaved-thinking-2025-05-14",
                **build_extra_headers(feature="reasoning"),
            },
        ),
    )
    assert [
        (_sent(gateway)[0][2], "interleaved-thinking-2025-05-14" in gateway.requests[0].header("anthropic-beta"))
    ] == [({**KEY, "x-majordomo-feature": "reasoning"}, True)]


async def test_multi_step_workflow(exporter, gateway: SimServer) -> None:
    query_agent = Agent(create_model("anthropic"))
    synthesis_agent = Agent(create_model("anthropic"))
    await query_agent.run(
        "topic",
        model_settings=AnthropicModelSettings(extra_headers=build_extra_headers(feature="research", step="query-gen")),
    )
    await synthesis_agent.run(
        "results",
        model_settings=AnthropicModelSettings(extra_headers=build_extra_headers(feature="research", step="synthesis")),
    )
    assert majordomo_headers(gateway) == [
        {**KEY, "x-majordomo-feature": "research", "x-majordomo-step": "query-gen"},
        {**KEY, "x-majordomo-feature": "research", "x-majordomo-step": "synthesis"},
    ]


async def test_create_model_tags_from_context_without_extra_headers(exporter, gateway: SimServer) -> None:
    import majordomo_otel

    with majordomo_otel.tags(feature="chat-bot", user_id="user-9", session_id="sess-1"):
        await Agent(create_model("openai")).run("Hello!")
    assert majordomo_headers(gateway) == [
        {**KEY, "x-majordomo-feature": "chat-bot", "x-majordomo-user-id": "user-9", "x-majordomo-session-id": "sess-1"}
    ]


@pytest.fixture
def key_from_environment(gateway: SimServer) -> Iterator[None]:
    """`instrument()`/`configure()` given no key: helpers and propagator read `MAJORDOMO_API_KEY`."""
    configure([gateway.url])
    try:
        yield
    finally:
        configure([gateway.url], API_KEY)


def test_missing_key_error_message(key_from_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAJORDOMO_API_KEY")
    with pytest.raises(ValueError, match=r"^MAJORDOMO_API_KEY environment variable is required$"):
        build_extra_headers(feature="x")


def test_a_key_given_to_instrument_reaches_the_guide_helpers(
    exporter, gateway: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAJORDOMO_API_KEY", "mdm_sk_from_the_environment")
    configure([gateway.url], "mdm_sk_given_to_instrument")
    try:
        headers = build_extra_headers(feature="x")
    finally:
        configure([gateway.url], API_KEY)
    assert headers["X-Majordomo-Key"] == "mdm_sk_given_to_instrument"


def test_check_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAJORDOMO_API_KEY")
    monkeypatch.delenv("GEMINI_API_KEY")
    assert [check_environment("openai"), check_environment("gemini")] == [
        ["MAJORDOMO_API_KEY"],
        ["MAJORDOMO_API_KEY", "GEMINI_API_KEY"],
    ]


def test_defaults_and_gateway_url(exporter, gateway: SimServer) -> None:
    assert [PROVIDER_DEFAULTS, get_gateway_url()] == [
        {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.0-flash"},
        gateway.url,
    ]


async def test_native_gemini_route(exporter, gateway: SimServer) -> None:
    from majordomo_otel.pydantic_ai import create_gemini_native_model

    with __import__("majordomo_otel").tags(feature="native"):
        await Agent(create_gemini_native_model()).run("Hello!")
    assert _sent(gateway) == [
        (
            "/v1beta/models/gemini-2.0-flash:generateContent",
            None,
            {**KEY, "x-majordomo-feature": "native", "x-majordomo-provider": "gemini"},
        )
    ]
