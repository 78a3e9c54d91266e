"""Anthropic, OpenAI and Gemini through the same gateway, each with its own model settings type.

Guide section "Provider Examples". Gemini goes through its OpenAI-compatible API (`create_model("gemini")`
sends `X-Majordomo-Provider: gemini-openai`); `create_gemini_native_model()` uses Gemini's native API.
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings
from pydantic_ai.models.openai import OpenAIChatModelSettings  # the guide's pydantic_ai.settings moved here

from majordomo_otel.pydantic_ai import (
    build_extra_headers,
    build_extra_headers_gemini,
    create_gemini_native_model,
    create_model,
)


async def anthropic() -> str:
    agent = Agent(model=create_model("anthropic"), system_prompt="You are helpful.")
    settings = AnthropicModelSettings(extra_headers=build_extra_headers(feature="chat"))
    return (await agent.run("Hello!", model_settings=settings)).output


async def openai() -> str:
    agent = Agent(model=create_model("openai"), system_prompt="You are helpful.")
    settings = OpenAIChatModelSettings(extra_headers=build_extra_headers(feature="chat"))
    return (await agent.run("Hello!", model_settings=settings)).output


async def gemini() -> str:
    agent = Agent(model=create_model("gemini"), system_prompt="You are helpful.")
    settings = OpenAIChatModelSettings(extra_headers=build_extra_headers_gemini(feature="chat"))
    return (await agent.run("Hello!", model_settings=settings)).output


async def gemini_native() -> str:
    import majordomo_otel

    # Native API (GoogleModel); tags come from the context, no extra_headers needed.
    with majordomo_otel.tags(feature="chat"):
        agent = Agent(model=create_gemini_native_model(), system_prompt="You are helpful.")
        return (await agent.run("Hello!")).output


async def main() -> None:
    for run in (anthropic, openai, gemini, gemini_native):
        print(f"{run.__name__}: {await run()}")


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic", "openai", "gemini"):
        asyncio.run(main())
