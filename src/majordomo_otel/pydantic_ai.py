"""The Pydantic AI + Majordomo guide's helpers, on today's Pydantic AI.

Same names, signatures, defaults, header names, environment variables and error messages as
`majordomo_frameworks.pydantic_ai`, with these differences (all compatible):

- Models come from `OpenAIChatModel` (`OpenAIModel` is gone in Pydantic AI 2.x).
- Models made here tag their requests from the context (`majordomo_otel.tags(...)`) and send the
  key even with no `extra_headers`; explicit `extra_headers` win per header. This works with or
  without `instrument()`.
- Gemini: `create_model("gemini")` is Gemini's OpenAI-compatible API through the gateway: requests
  go to `<gateway>/v1/chat/completions` with `X-Majordomo-Provider: gemini-openai` (set on the
  client, so `build_extra_headers()` alone also works); the gateway forwards to the upstream
  `/v1beta/openai/chat/completions`. `create_gemini_native_model()` is the native API:
  `GoogleModel` against `<gateway>` with `X-Majordomo-Provider: gemini`, path
  `/v1beta/models/{model}:generateContent` (or `:streamGenerateContent`).
- No provider key in the app: without `OPENAI_API_KEY` (etc.) the models send the Majordomo key as the SDK's
  key, and a gateway holding provider keys sends its own upstream (README: "Keep provider keys in the
  gateway"). `check_environment()` still lists the guide's variables.
- Anthropic models are built with the Anthropic SDK's own spans off (they repeat `gen_ai.usage.*`
  under Pydantic AI's `chat` span); `MAJORDOMO_ANTHROPIC_SDK_SPANS=on` keeps them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final, Literal

import httpx2

from . import _settings, wire
from .propagator import api_key, is_gateway_origin, majordomo_headers, set_missing_headers
from .tags import Tags, current_tags

if TYPE_CHECKING:
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.models.openai import OpenAIChatModel

__all__ = [
    "PROVIDER_DEFAULTS",
    "Provider",
    "build_extra_headers",
    "build_extra_headers_gemini",
    "check_environment",
    "create_anthropic_model",
    "create_gemini_model",
    "create_gemini_native_model",
    "create_model",
    "create_openai_model",
    "get_gateway_url",
    "get_majordomo_key",
]

Provider = Literal["openai", "anthropic", "gemini"]

# The guide's defaults, except Anthropic: its `claude-sonnet-4-20250514` was retired on 2026-06-15 (Pydantic AI
# warns on every request to it), so the default is the same-priced current Sonnet.
PROVIDER_DEFAULTS: Final[dict[str, str]] = {
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-6",
    "gemini": "gemini-2.0-flash",
}
_PROVIDER_KEYS: Final = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
_TIMEOUT: Final = httpx2.Timeout(600, connect=5)


def get_gateway_url() -> str:
    """The gateway URL (`MAJORDOMO_GATEWAY_URL`, default `http://localhost:7680`; first of a list)."""
    return _settings.gateway_urls()[0]


def get_majordomo_key() -> str:
    key = api_key()
    if not key:
        raise ValueError("MAJORDOMO_API_KEY environment variable is required")
    return key


def check_environment(provider: Provider) -> list[str]:
    """Names of the required environment variables that are not set (empty when all are)."""
    required = ["MAJORDOMO_API_KEY"]
    if provider in _PROVIDER_KEYS:
        required.append(_PROVIDER_KEYS[provider])
    return [var for var in required if not os.environ.get(var)]


def build_extra_headers(
    *,
    feature: str | None = None,
    step: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """`X-Majordomo-*` headers for a model settings' `extra_headers` (values percent-encoded if needed)."""
    headers: dict[str, str] = {wire.KEY: get_majordomo_key()}
    # Empty values are skipped, and nothing is bounds-checked, as in the guide's helper.
    tags = Tags(feature=feature or None, step=step or None, user_id=user_id or None, session_id=session_id or None)
    headers.update(tags.headers())
    if extra_headers:
        headers.update(extra_headers)
    return headers


def build_extra_headers_gemini(
    *,
    feature: str | None = None,
    step: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """`build_extra_headers()` plus `X-Majordomo-Provider: gemini-openai` (the gateway's Gemini route)."""
    headers = build_extra_headers(
        feature=feature, step=step, user_id=user_id, session_id=session_id, extra_headers=extra_headers
    )
    headers[wire.PROVIDER] = "gemini-openai"
    return headers


async def _tag_request(request: httpx2.Request) -> None:
    """Request hook: context tags and the key, on gateway requests, where no explicit header is set."""
    url = request.url
    if is_gateway_origin(url.scheme, url.host, url.port):
        set_missing_headers(request.headers, majordomo_headers(current_tags(), api_key()))


def _gateway_client(provider_header: str | None = None) -> httpx2.AsyncClient:
    headers = {wire.PROVIDER: provider_header} if provider_header else None
    return httpx2.AsyncClient(timeout=_TIMEOUT, headers=headers, event_hooks={"request": [_tag_request]})


def _provider_key(provider: Provider) -> str:
    """The key the SDK sends: the app's own provider key (`OPENAI_API_KEY`, passed through), else the
    Majordomo key, which the gateway replaces with the provider key it holds (`majordomo credentials`)."""
    return os.environ.get(_PROVIDER_KEYS[provider]) or get_majordomo_key()


def create_openai_model(model_name: str = PROVIDER_DEFAULTS["openai"]) -> OpenAIChatModel:
    """An `OpenAIChatModel` sending to `<gateway>/v1`."""
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(
        base_url=f"{get_gateway_url()}/v1", api_key=_provider_key("openai"), http_client=_gateway_client()
    )
    return OpenAIChatModel(model_name, provider=provider)


def create_anthropic_model(model_name: str = PROVIDER_DEFAULTS["anthropic"]) -> AnthropicModel:
    """An `AnthropicModel` sending to `<gateway>` (the Anthropic SDK adds `/v1/messages`)."""
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    sdk_spans: Any = None if _settings.anthropic_sdk_spans() else False
    client = AsyncAnthropic(
        base_url=get_gateway_url(),
        api_key=_provider_key("anthropic"),
        http_client=_gateway_client(),
        open_telemetry=sdk_spans,
    )
    return AnthropicModel(model_name, provider=AnthropicProvider(anthropic_client=client))


def create_gemini_model(model_name: str = PROVIDER_DEFAULTS["gemini"]) -> OpenAIChatModel:
    """Gemini through its OpenAI-compatible API: `<gateway>/v1` with `X-Majordomo-Provider: gemini-openai`."""
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

    # Named as Pydantic AI names Google's API, not 'openai': Pydantic AI prices a response by its
    # provider name, and genai-prices knows Gemini models under Google only. As plain `OpenAIProvider`
    # the `chat` span would carry no `operation.cost`, and a trace's summed cost would miss Gemini.
    provider = OpenAICompatibleProvider(
        "google-gla",
        base_url=f"{get_gateway_url()}/v1",
        api_key=_provider_key("gemini"),
        http_client=_gateway_client("gemini-openai"),
    )
    return OpenAIChatModel(model_name, provider=provider)


def create_gemini_native_model(model_name: str = PROVIDER_DEFAULTS["gemini"]) -> GoogleModel:
    """Gemini's native API: a `GoogleModel` against `<gateway>` with `X-Majordomo-Provider: gemini`."""
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    provider = GoogleProvider(
        api_key=_provider_key("gemini"), base_url=get_gateway_url(), http_client=_gateway_client("gemini")
    )
    return GoogleModel(model_name, provider=provider)


def create_model(provider: Provider, model_name: str | None = None) -> OpenAIChatModel | AnthropicModel:
    """A model for `provider` (`openai`, `anthropic` or `gemini`), routed through the gateway."""
    name = model_name or PROVIDER_DEFAULTS[provider]
    match provider:
        case "openai":
            return create_openai_model(name)
        case "anthropic":
            return create_anthropic_model(name)
        case "gemini":
            return create_gemini_model(name)
    raise ValueError(f"unknown provider {provider!r}; expected one of {sorted(PROVIDER_DEFAULTS)}")
