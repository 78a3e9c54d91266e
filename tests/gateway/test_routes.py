"""Routing: which provider and operation a path is, and where it goes upstream."""

from __future__ import annotations

import pytest

from majordomo_otel.gateway.routes import PLAIN_PATHS, Route, UnknownProvider, UnknownRoute, resolve


@pytest.mark.parametrize(
    ("path", "override", "route"),
    [
        ("/v1/chat/completions", None, Route("openai", "chat_completions", "/v1/chat/completions")),
        ("/v1/responses", None, Route("openai", "responses", "/v1/responses")),
        ("/v1/embeddings", None, Route("openai", "embeddings", "/v1/embeddings")),
        ("/v1/completions", None, Route("openai", "completions", "/v1/completions")),
        ("/v1/chat/completions", "openai", Route("openai", "chat_completions", "/v1/chat/completions")),
        (
            "/v1/chat/completions",
            "gemini-openai",
            Route("gemini-openai", "chat_completions", "/v1beta/openai/chat/completions"),
        ),
        (
            "/v1/chat/completions",
            "Gemini",
            Route("gemini-openai", "chat_completions", "/v1beta/openai/chat/completions"),
        ),
        ("/v1/embeddings", "gemini", Route("gemini-openai", "embeddings", "/v1beta/openai/embeddings")),
        (
            "/v1beta/openai/chat/completions",
            None,
            Route("gemini-openai", "chat_completions", "/v1beta/openai/chat/completions"),
        ),
        ("/v1/messages", None, Route("anthropic", "messages", "/v1/messages")),
        ("/v1/messages/count_tokens", None, Route("anthropic", "count_tokens", "/v1/messages/count_tokens")),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            None,
            Route(
                "gemini",
                "generate_content",
                "/v1beta/models/gemini-2.5-flash:generateContent",
                False,
                "gemini-2.5-flash",
            ),
        ),
        (
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
            None,
            Route(
                "gemini",
                "generate_content",
                "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
                True,
                "gemini-2.5-pro",
            ),
        ),
    ],
)
def test_known_paths_resolve(path: str, override: str | None, route: Route) -> None:
    assert resolve(path, override) == route


def test_responses_api_has_no_gemini_equivalent() -> None:
    with pytest.raises(UnknownRoute, match="no Gemini OpenAI-compatible equivalent"):
        resolve("/v1/responses", "gemini-openai")


def test_unknown_provider_override_is_rejected_by_name() -> None:
    with pytest.raises(UnknownProvider, match="must be one of openai, anthropic, gemini, gemini-openai, got 'azure'"):
        resolve("/v1/chat/completions", "azure")


@pytest.mark.parametrize("path", ["/", "/v1/images/generations", "/v1beta/models/x:countTokens", "/v2/messages"])
def test_other_paths_are_unknown(path: str) -> None:
    with pytest.raises(UnknownRoute):
        resolve(path)


def test_every_plain_path_resolves() -> None:
    assert all(resolve(path) for path in PLAIN_PATHS)
