"""Which provider and operation a request belongs to, and which path it goes to upstream.

Routing is a pure function of (table, method, path, a few headers): no I/O, so it is cheap and
trivially testable. Paths are taken raw (still percent-encoded) and sent upstream exactly so.

A request names its provider in one of three ways, first match wins:

1. a path prefix, `/<provider>/<the provider's own path>` (`/groq/openai/v1/chat/completions`), or the
   same with the guide's `/v1/...` path (`/groq/v1/chat/completions`), or relative to the provider's API
   base as Pydantic AI's gateway models send it (`/openai/chat/completions`);
2. `X-Majordomo-Provider: <provider>` on one of the root paths below;
3. the root path itself: `/v1beta/openai/...` is Gemini's OpenAI-compatible endpoint; `/v1beta/...`,
   `/v1alpha/...` and `/v1/models/<model>:<method>` are Gemini; `/v1/messages...` and `/v1/complete` are
   Anthropic, as is any `/v1/...` request with an `anthropic-version` header (`GET /v1/models` from the
   Anthropic SDK); a `/v1/...` request with `x-goog-api-key` is Gemini; every other `/v1/...` is OpenAI.

Every path of a provider's API is proxied: the operations the gateway reads usage from (chat
completions, responses, embeddings, completions, messages, generateContent) are priced; free ones
(models, moderations, token counts, and any GET/HEAD/DELETE: reading or deleting a batch or a file) are
recorded as not billable; anything else (creating files, batches, ...)
passes through, recorded with its status. Only paths outside every API get a 404.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .. import wire
from .providers import Family, Provider, ProviderTable


@dataclass(frozen=True, slots=True)
class Route:
    provider: Provider
    operation: str
    upstream_path: str  # raw path on the provider's origin (API path included), no query
    #: False: nothing to read usage from (a free operation, or one the gateway does not price)
    priced: bool = True
    #: False: an operation that costs nothing (recorded as not billable, not as an error)
    billable: bool = True
    #: Gemini native routes say in the path whether they stream and which model they use.
    path_streams: bool = False
    path_model: str | None = None


class UnknownRoute(LookupError):
    pass


class UnknownProvider(ValueError):
    pass


# Operations priced from the response: relative path → operation (POST only).
_OPENAI_PRICED: Final = {
    "/chat/completions": "chat_completions",
    "/responses": "responses",
    "/embeddings": "embeddings",
    "/completions": "completions",
}
_OPENAI_FREE: Final = frozenset({"models", "moderations"})
_ANTHROPIC_PRICED: Final = {"/v1/messages": "messages"}
_ANTHROPIC_FREE: Final = {"/v1/messages/count_tokens": "count_tokens"}
_ANTHROPIC_ROOT: Final = re.compile(r"^/v1/(?:messages(?:/.*)?|complete)$")
_GEMINI_MODEL: Final = re.compile(  # the colon may arrive encoded (%3A): paths are raw
    r"^/(?P<version>v1beta|v1|v1alpha)/(?P<model>(?:models|tunedModels)/[^/:]+?)(?::|%3[Aa])(?P<method>[A-Za-z]+)$"
)
_GEMINI_METHODS: Final = {
    "generateContent": ("generate_content", True, True),  # (operation, priced, billable)
    "streamGenerateContent": ("generate_content", True, True),
    "countTokens": ("count_tokens", False, False),
    "embedContent": ("embeddings", False, True),  # billed, but the response carries no usage to price
    "batchEmbedContents": ("embeddings", False, True),
}
_FREE_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_DEPLOYMENT: Final = re.compile(r"^/deployments/(?P<name>[^/]+)(?P<rest>/.*)$")  # Azure OpenAI

_PROVIDER_HEADER: Final = wire.PROVIDER.lower()  # headers arrive case-insensitive, or lower-case from tests
#: The provider SDKs' own headers that say whose `/v1/...` a request is.
_ANTHROPIC_VERSION: Final = "anthropic-version"
_GOOGLE_KEY: Final = "x-goog-api-key"

#: Root paths registered as plain routes (a dict lookup in aiohttp); everything else goes through the catch-all.
PLAIN_PATHS: Final = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/messages")

#: For 404 messages: what a client can call.
SUPPORTED: Final = (
    f"/v1/... (OpenAI; Anthropic with an anthropic-version header; {wire.PROVIDER} picks another)",
    "/v1beta/openai/... (Gemini, OpenAI-compatible)",
    "/v1beta/models/{model}:{method} (Gemini)",
    "/<provider>/<the provider's own path>",
)


def resolve(table: ProviderTable, method: str, raw_path: str, headers: Mapping[str, str]) -> Route:
    """The route of a request; raises `UnknownProvider` (400) or `UnknownRoute` (404)."""
    first, _, rest = raw_path[1:].partition("/")
    if (prefixed := table.get(first)) is not None and rest:
        return _route(prefixed, method, _relative(prefixed, "/" + rest))
    chosen = None
    if override := headers.get(_PROVIDER_HEADER):
        chosen = table.get(override.strip().lower())
        if chosen is None:
            raise UnknownProvider(f"{wire.PROVIDER} must be one of {', '.join(table.names)}, got {override!r}")
    path = raw_path.rstrip("/") or "/"
    gemini_compat = table.openai_twin(table.root_provider(Family.GEMINI))
    if gemini_compat is not None and path.startswith(gemini_compat.api_path + "/"):
        provider = chosen if chosen is not None and chosen.family is Family.OPENAI else gemini_compat
        return _route(provider, method, path[len(gemini_compat.api_path) :])
    family = _root_family(path, headers)
    if chosen is not None:
        if family is Family.OPENAI and (twin := table.openai_twin(chosen)) is not None:
            chosen = twin  # the guide's `X-Majordomo-Provider: gemini` on /v1/chat/completions
        family = chosen.family
    provider = chosen or table.root_provider(family)
    if family is not Family.OPENAI:
        return _route(provider, method, path)
    if not path.startswith("/v1/"):
        raise UnknownRoute(path)
    return _route(provider, method, path[3:])


class RouteCache:
    """`resolve` for one table, remembered: the same method, path and provider-choosing headers always give the
    same route, and every request asks. Paths are the client's, so only short ones are kept, and at most
    `size` of them (the whole cache is dropped when full): a client sending endless new paths costs a lookup
    each, never memory. Unknown paths and providers are not kept (they raise each time)."""

    def __init__(self, table: ProviderTable, size: int = 512, longest_path: int = 256) -> None:
        self._table = table
        self._size = size
        self._longest = longest_path
        self._routes: dict[tuple[str, str, str | None, bool, bool], Route] = {}

    def __len__(self) -> int:
        return len(self._routes)

    def resolve(self, method: str, raw_path: str, headers: Mapping[str, str]) -> Route:
        # Everything `resolve` reads: the method, the raw path and the three headers that may pick the provider.
        key = (method, raw_path, headers.get(_PROVIDER_HEADER), _ANTHROPIC_VERSION in headers, _GOOGLE_KEY in headers)
        if (route := self._routes.get(key)) is not None:
            return route
        route = resolve(self._table, method, raw_path, headers)
        if len(raw_path) <= self._longest:
            if len(self._routes) >= self._size:
                self._routes.clear()
            self._routes[key] = route
        return route


def _root_family(path: str, headers: Mapping[str, str]) -> Family:
    """Whose root path this is, by the path, else by the provider SDK's own headers."""
    if path.startswith(("/v1beta/", "/v1alpha/")) or _GEMINI_MODEL.match(path):
        return Family.GEMINI
    if _ANTHROPIC_ROOT.match(path) or _ANTHROPIC_VERSION in headers:
        return Family.ANTHROPIC
    if _GOOGLE_KEY in headers:
        return Family.GEMINI
    return Family.OPENAI


def _relative(provider: Provider, rest: str) -> str:
    """A prefixed request's path relative to the provider's API path (Groq: `/openai/v1/x` → `/x`)."""
    api = provider.api_path
    if api and (rest == api or rest.startswith(api + "/")):
        return rest[len(api) :]
    if provider.family is Family.OPENAI and rest.startswith("/v1/"):
        return rest[3:]  # the guide's /v1/... under a provider whose API path is another
    return rest  # relative already: Pydantic AI's gateway models send /openai/chat/completions


def _route(provider: Provider, method: str, relative: str) -> Route:
    if not provider.configured:
        name = provider.name
        raise UnknownProvider(f"provider {name!r} has no base URL: set base_url in [providers.{name}] of the config")
    upstream = provider.api_path + relative
    if provider.family is Family.OPENAI:
        return _openai(provider, method, relative, upstream)
    if provider.family is Family.ANTHROPIC:
        return _anthropic(provider, method, relative, upstream)
    return _gemini(provider, method, relative, upstream)


def _openai(provider: Provider, method: str, relative: str, upstream: str) -> Route:
    model = None
    if (deployment := _DEPLOYMENT.match(relative)) is not None:
        model, relative = deployment["name"], deployment["rest"]
    elif relative.startswith("/v1/"):  # Azure's v1 API under its /openai API path
        relative = relative[3:]
    if method == "POST" and (operation := _OPENAI_PRICED.get(relative)) is not None:
        return Route(provider, operation, upstream, path_model=model)
    name = relative.strip("/").split("/", 1)[0] or "unknown"
    free = name in _OPENAI_FREE
    return Route(provider, name, upstream, priced=False, billable=not free and _may_bill(method), path_model=model)


def _anthropic(provider: Provider, method: str, relative: str, upstream: str) -> Route:
    if method == "POST" and (operation := _ANTHROPIC_PRICED.get(relative)) is not None:
        return Route(provider, operation, upstream)
    if method == "POST" and (operation := _ANTHROPIC_FREE.get(relative)) is not None:
        return Route(provider, operation, upstream, priced=False, billable=False)
    parts = relative.strip("/").split("/")  # /v1/messages/batches/... → messages_batches, /v1/models → models
    batches = parts[:2] == ["v1", "messages"] and len(parts) > 2
    name = "_".join(parts[1:3]) if batches else (parts[1:2] or ["unknown"])[0]
    return Route(provider, name, upstream, priced=False, billable=name != "models" and _may_bill(method))


def _gemini(provider: Provider, method: str, relative: str, upstream: str) -> Route:
    if (match := _GEMINI_MODEL.match(relative)) is not None and method == "POST":
        operation, priced, billable = _GEMINI_METHODS.get(match["method"], (match["method"], False, True))
        return Route(
            provider,
            operation,
            upstream,
            priced=priced,
            billable=billable,
            path_streams=match["method"] == "streamGenerateContent",
            path_model=match["model"].split("/", 1)[1],  # as sent (still encoded), like the upstream path
        )
    parts = relative.strip("/").split("/")
    name = parts[1] if len(parts) > 1 else "unknown"
    return Route(provider, name, upstream, priced=False, billable=name != "models" and _may_bill(method))


def _may_bill(method: str) -> bool:
    """Reading, listing or deleting (a batch, a file) costs nothing; only what creates work may."""
    return method not in _FREE_METHODS
