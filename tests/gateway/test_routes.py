"""Routing: which provider and operation a request is, and which path it goes to upstream."""

# ruff: noqa: E501 - the route table below reads best one request per line

from __future__ import annotations

import pytest

from majordomo_otel.gateway.providers import ProviderTable
from majordomo_otel.gateway.routes import PLAIN_PATHS, RouteCache, UnknownProvider, UnknownRoute, resolve

TABLE = ProviderTable.build(
    config={
        "azure": {"base_url": "https://acme.openai.azure.com/openai"},
        "vllm": {"base_url": "http://gpu-box:8000/v1", "price_id": "openai"},
    }
)


#: What the proxy asks, shared by every row below: a route it remembers must never answer another request.
CACHE = RouteCache(TABLE)


def _where(method: str, path: str, headers: dict[str, str] | None = None) -> tuple[object, ...]:
    """(provider, operation, upstream URL, priced, billable, path model): the route as a whole value, as the
    proxy gets it the second time (from the cache; the first answer is `resolve`'s own)."""
    first = CACHE.resolve(method, path, headers or {})
    r = CACHE.resolve(method, path, headers or {})
    assert r == first == resolve(TABLE, method, path, headers or {})
    return (r.provider.name, r.operation, f"{r.provider.origin}{r.upstream_path}", r.priced, r.billable, r.path_model)


OPENAI = "https://api.openai.com"
ANTHROPIC = "https://api.anthropic.com"
GEMINI = "https://generativelanguage.googleapis.com"


@pytest.mark.parametrize(
    ("method", "path", "headers", "where"),
    [
        # the guide's root paths
        ("POST", "/v1/chat/completions", {}, ("openai", "chat_completions", f"{OPENAI}/v1/chat/completions", True, True, None)),
        ("POST", "/v1/responses", {}, ("openai", "responses", f"{OPENAI}/v1/responses", True, True, None)),
        ("POST", "/v1/embeddings", {}, ("openai", "embeddings", f"{OPENAI}/v1/embeddings", True, True, None)),
        ("POST", "/v1/messages", {}, ("anthropic", "messages", f"{ANTHROPIC}/v1/messages", True, True, None)),
        ("POST", "/v1/messages/count_tokens", {}, ("anthropic", "count_tokens", f"{ANTHROPIC}/v1/messages/count_tokens", False, False, None)),
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", {}, ("gemini", "generate_content", f"{GEMINI}/v1beta/models/gemini-2.5-flash:generateContent", True, True, "gemini-2.5-flash")),
        ("POST", "/v1beta/models/gemini-2.5-flash%3AstreamGenerateContent", {}, ("gemini", "generate_content", f"{GEMINI}/v1beta/models/gemini-2.5-flash%3AstreamGenerateContent", True, True, "gemini-2.5-flash")),
        ("POST", "/v1beta/openai/chat/completions", {}, ("gemini-openai", "chat_completions", f"{GEMINI}/v1beta/openai/chat/completions", True, True, None)),
        ("POST", "/v1/chat/completions", {"x-majordomo-provider": "gemini"}, ("gemini-openai", "chat_completions", f"{GEMINI}/v1beta/openai/chat/completions", True, True, None)),
        # everything else of a provider's API passes through: free operations are not billable
        ("GET", "/v1/models", {}, ("openai", "models", f"{OPENAI}/v1/models", False, False, None)),
        ("GET", "/v1/models", {"anthropic-version": "2023-06-01"}, ("anthropic", "models", f"{ANTHROPIC}/v1/models", False, False, None)),
        ("GET", "/v1/models", {"x-goog-api-key": "k"}, ("gemini", "models", f"{GEMINI}/v1/models", False, False, None)),
        ("POST", "/v1/moderations", {}, ("openai", "moderations", f"{OPENAI}/v1/moderations", False, False, None)),
        ("POST", "/v1/files", {}, ("openai", "files", f"{OPENAI}/v1/files", False, True, None)),
        ("POST", "/v1/messages/batches", {}, ("anthropic", "messages_batches", f"{ANTHROPIC}/v1/messages/batches", False, True, None)),
        ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", {}, ("gemini", "count_tokens", f"{GEMINI}/v1beta/models/gemini-2.5-flash:countTokens", False, False, "gemini-2.5-flash")),
        ("POST", "/v1beta/models/text-embedding-004:embedContent", {}, ("gemini", "embeddings", f"{GEMINI}/v1beta/models/text-embedding-004:embedContent", False, True, "text-embedding-004")),
        ("GET", "/v1beta/models", {}, ("gemini", "models", f"{GEMINI}/v1beta/models", False, False, None)),
        ("GET", "/v1/chat/completions", {}, ("openai", "chat", f"{OPENAI}/v1/chat/completions", False, False, None)),  # listing stored completions costs nothing
        # other providers: by header, or by a path prefix in any of the forms SDKs send
        ("POST", "/v1/chat/completions", {"x-majordomo-provider": "Groq"}, ("groq", "chat_completions", "https://api.groq.com/openai/v1/chat/completions", True, True, None)),
        ("POST", "/groq/openai/v1/chat/completions", {}, ("groq", "chat_completions", "https://api.groq.com/openai/v1/chat/completions", True, True, None)),
        ("POST", "/groq/v1/chat/completions", {}, ("groq", "chat_completions", "https://api.groq.com/openai/v1/chat/completions", True, True, None)),
        ("POST", "/openai/chat/completions", {}, ("openai", "chat_completions", f"{OPENAI}/v1/chat/completions", True, True, None)),
        ("POST", "/anthropic/v1/messages", {}, ("anthropic", "messages", f"{ANTHROPIC}/v1/messages", True, True, None)),
        ("POST", "/mistral/v1/chat/completions", {}, ("mistral", "chat_completions", "https://api.mistral.ai/v1/chat/completions", True, True, None)),
        ("POST", "/fireworks/inference/v1/chat/completions", {}, ("fireworks", "chat_completions", "https://api.fireworks.ai/inference/v1/chat/completions", True, True, None)),
        ("POST", "/azure/openai/deployments/gpt-4o-prod/chat/completions", {}, ("azure", "chat_completions", "https://acme.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions", True, True, "gpt-4o-prod")),
        ("POST", "/azure/openai/v1/chat/completions", {}, ("azure", "chat_completions", "https://acme.openai.azure.com/openai/v1/chat/completions", True, True, None)),
        ("POST", "/vllm/v1/chat/completions", {}, ("vllm", "chat_completions", "http://gpu-box:8000/v1/chat/completions", True, True, None)),
    ],
)  # fmt: skip
def test_requests_resolve(method: str, path: str, headers: dict[str, str], where: tuple[object, ...]) -> None:
    assert _where(method, path, headers) == where


def test_a_gemini_model_path_stays_encoded_and_says_it_streams() -> None:
    route = resolve(TABLE, "POST", "/v1beta/models/gemini%3Fkey=x:streamGenerateContent", {})
    assert (route.upstream_path, route.path_streams, route.path_model) == (
        "/v1beta/models/gemini%3Fkey=x:streamGenerateContent",
        True,
        "gemini%3Fkey=x",
    )


def test_an_unknown_provider_is_refused_by_name() -> None:
    with pytest.raises(UnknownProvider, match=r"X-Majordomo-Provider must be one of openai, .* got 'cohere'"):
        resolve(TABLE, "POST", "/v1/chat/completions", {"x-majordomo-provider": "cohere"})


def test_a_preset_without_its_base_url_says_what_to_configure() -> None:
    with pytest.raises(UnknownProvider, match=r"provider 'azure' has no base URL: set base_url in \[providers.azure\]"):
        resolve(ProviderTable.build(), "POST", "/azure/openai/v1/chat/completions", {})


@pytest.mark.parametrize("path", ["/", "/v2/messages", "/chat/completions", "/nothing/v1/chat/completions"])
def test_paths_no_provider_api_has_are_unknown(path: str) -> None:
    with pytest.raises(UnknownRoute):
        resolve(TABLE, "POST", path, {})


def test_every_plain_path_is_a_priced_route() -> None:
    assert all(resolve(TABLE, "POST", path, {}).priced for path in PLAIN_PATHS)


def test_the_route_cache_stays_bounded_whatever_paths_clients_send() -> None:
    cache = RouteCache(TABLE, size=64, longest_path=40)
    for n in range(1_000):
        cache.resolve("GET", f"/v1/files/file-{n}", {})
    kept = len(cache)
    long = cache.resolve("GET", "/v1/files/" + "x" * 100, {})  # answered, not kept
    assert (0 < kept <= 64, len(cache) == kept, long.operation) == (True, True, "files")


def test_a_cached_path_with_another_providers_header_is_routed_afresh() -> None:
    cache = RouteCache(TABLE)
    plain = cache.resolve("GET", "/v1/models", {})
    anthropic = cache.resolve("GET", "/v1/models", {"anthropic-version": "2023-06-01"})
    chosen = cache.resolve("GET", "/v1/models", {"x-majordomo-provider": "azure"})
    assert (plain.provider.name, anthropic.provider.name, chosen.provider.name) == ("openai", "anthropic", "azure")
