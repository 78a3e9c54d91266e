"""Migrating from another proxy: keep your own extra headers and merge the Majordomo ones in.

Guide section "Migration Guide / From Another Proxy". Your headers still reach the provider (the gateway
forwards every header except `X-Majordomo-*`); the Majordomo ones are read by the gateway and dropped.
"""

import asyncio

from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModelSettings

from majordomo_otel.pydantic_ai import build_extra_headers, create_model


async def main() -> None:
    # Point the model at the gateway instead of the old proxy
    model = create_model("anthropic", "claude-sonnet-4-6")

    # Merge your existing headers with Majordomo's
    majordomo_headers = build_extra_headers(feature="my-agent")
    my_headers = {"X-Custom-Header": "value", **majordomo_headers}

    settings = AnthropicModelSettings(max_tokens=64000, extra_headers=my_headers)
    result = await Agent(model=model).run("Hello!", model_settings=settings)
    print(result.output)

    # Or pass them straight through build_extra_headers(extra_headers=...): same result
    merged = build_extra_headers(feature="my-agent", extra_headers={"X-Custom-Header": "value"})
    result = await Agent(model=model).run("Hello again!", model_settings=AnthropicModelSettings(extra_headers=merged))
    print(result.output)


if __name__ == "__main__":
    import _offline

    with _offline.gateway("anthropic"):
        asyncio.run(main())
