"""Which provider and operation a request path belongs to, and where it goes upstream.

Routing is a pure function of (method, path, `X-Majordomo-Provider`): no I/O, no settings lookup
beyond the base URLs, so it is cheap and trivially testable. Paths are the raw, still percent-encoded
ones: decoding first would turn a `%3F` or `%23` in a Gemini model name into a real query or fragment
upstream, and a `%2F` into another path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

PROVIDERS: Final = ("openai", "anthropic", "gemini", "gemini-openai")


@dataclass(frozen=True, slots=True)
class Route:
    provider: str  # openai | anthropic | gemini | gemini-openai
    operation: (
        str  # chat_completions | responses | embeddings | completions | messages | count_tokens | generate_content
    )
    upstream_path: str  # raw (percent-encoded) path, no query, on the provider's host
    #: Gemini native routes say in the path whether they stream and which model they use.
    path_streams: bool = False
    path_model: str | None = None


_OPENAI_OPERATIONS: Final = {
    "/v1/chat/completions": "chat_completions",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
    "/v1/completions": "completions",
}
# Gemini's OpenAI-compatible endpoint lives under /v1beta/openai/ on Gemini's host
# (the original gateway sent it to the wrong path).
_GEMINI_OPENAI_PATHS: Final = {
    "chat_completions": "/v1beta/openai/chat/completions",
    "embeddings": "/v1beta/openai/embeddings",
    "completions": "/v1beta/openai/completions",
}
_ANTHROPIC_OPERATIONS: Final = {"/v1/messages": "messages", "/v1/messages/count_tokens": "count_tokens"}
_GEMINI_NATIVE: Final = re.compile(
    r"^/(?P<version>v1beta|v1|v1alpha)/(?P<model>(?:models|tunedModels)/[^/:]+)(?::|%3[Aa])"
    r"(?P<method>generateContent|streamGenerateContent)$"
)

#: Every fixed path a route can have (the Gemini native paths are templated).
PLAIN_PATHS: Final = (*_OPENAI_OPERATIONS, *_GEMINI_OPENAI_PATHS.values(), *_ANTHROPIC_OPERATIONS)

SUPPORTED: Final = (
    "POST /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/completions (OpenAI; "
    "X-Majordomo-Provider: gemini-openai sends them to Gemini's OpenAI-compatible endpoint)",
    "POST /v1beta/openai/chat/completions, /v1beta/openai/embeddings (Gemini, OpenAI-compatible)",
    "POST /v1/messages, /v1/messages/count_tokens (Anthropic)",
    "POST /v1beta/models/{model}:generateContent, :streamGenerateContent (Gemini)",
)


class UnknownRoute(LookupError):
    pass


class UnknownProvider(ValueError):
    pass


def resolve(path: str, provider_override: str | None = None) -> Route:
    """Map a raw request path (no query string) to its route; raise `UnknownRoute` if unsupported."""
    override = provider_override.strip().lower() if provider_override else None
    if override is not None and override not in PROVIDERS:
        raise UnknownProvider(f"X-Majordomo-Provider must be one of {', '.join(PROVIDERS)}, got {override!r}")
    path = path.rstrip("/") or "/"

    if (operation := _OPENAI_OPERATIONS.get(path)) is not None:
        if override in ("gemini", "gemini-openai"):
            if operation not in _GEMINI_OPENAI_PATHS:
                raise UnknownRoute(f"{path} has no Gemini OpenAI-compatible equivalent")
            return Route("gemini-openai", operation, _GEMINI_OPENAI_PATHS[operation])
        return Route("openai", operation, path)

    if path.startswith("/v1beta/openai/"):
        for operation, upstream in _GEMINI_OPENAI_PATHS.items():
            if path == upstream:
                return Route("gemini-openai", operation, upstream)

    if (operation := _ANTHROPIC_OPERATIONS.get(path)) is not None:
        return Route("anthropic", operation, path)

    if (match := _GEMINI_NATIVE.match(path)) is not None:
        model = match["model"].split("/", 1)[1]
        return Route(
            "gemini",
            "generate_content",
            path,
            path_streams=match["method"] == "streamGenerateContent",
            path_model=model,
        )

    raise UnknownRoute(path)


# A credential in a query, also where it is percent-encoded into the path (`%3Fkey=`, which must not
# become a real query upstream either). The value runs to the next `&`: over-masking beats a leak.
_URL_SECRET: Final = re.compile(r"(?i)((?:[?&]|%3F|%26)(?:key|api[_-]?key|access_token)(?:=|%3D))[^&\s'\"]+")


def redact_url(text: str) -> str:
    """`text` (a path, a URL, an error naming one) with any query credential masked, for records and logs."""
    return _URL_SECRET.sub(r"\1***", text)
