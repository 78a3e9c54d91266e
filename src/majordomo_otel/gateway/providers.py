"""The provider table: every fact about a provider API, in one row, read by everything else.

A provider is a name a client can pick (`X-Majordomo-Provider: groq`, or a path prefix
`/groq/openai/v1/chat/completions`), an API family that decides its routes, usage readers and error
shape (OpenAI-compatible, Anthropic, Gemini), where it lives, how its key is sent, and the ids that
price it (genai-prices) and name it in spans (`gen_ai.provider.name`). Routing (`routes.py`), upstream
URLs, pricing, span attributes and error bodies all look providers up here; no other module names one.

Built-in rows cover the four APIs of the guide and presets for the OpenAI-compatible providers
genai-prices prices; users add their own in the config file, with no code change:

    [providers.vllm]
    base_url = "http://gpu-box:8000/v1"   # as the provider's SDK takes it: origin + API path
    family = "openai"                      # openai | anthropic | gemini (default openai)
    price_id = "openai"                    # genai-prices provider id to price its models with (optional)
    api_key_env = "VLLM_API_KEY"           # where the gateway finds the key it sends for its clients (optional)

`base_url` is split into an origin (where requests go; `MAJORDOMO_<NAME>_BASE_URL`-style settings
replace it for the built-ins, as before) and an API path (`/v1`, `/openai/v1`, ...) that maps the
guide's root paths (`/v1/chat/completions`) onto the provider's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit


class Family(StrEnum):
    """The API shape a provider speaks: decides routes, usage readers and error bodies."""

    OPENAI = "openai"  # OpenAI-compatible: /chat/completions, /responses, /embeddings, ...
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class StreamUsage(StrEnum):
    """Whether a chat-completions stream reports usage without the client asking."""

    ASK = "ask"  # only with `stream_options.include_usage` (OpenAI and most compatible APIs)
    ALWAYS = "always"  # in its last chunk regardless (Gemini's OpenAI-compatible endpoint, Mistral)


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    family: Family
    origin: str | None  # scheme://host[:port] requests go to; None: must be configured (Azure)
    api_path: str  # the path its SDK's base URL has after the origin ("/v1", "/openai/v1", "")
    price_id: str | None  # genai-prices provider id; None: priced only from the config's [prices]
    otel_name: str  # gen_ai.provider.name (OTel GenAI semantic conventions' well-known values)
    key_header: str  # where its SDKs send the key ("authorization" carries "Bearer <key>")
    stream_usage: StreamUsage = StreamUsage.ASK
    query: tuple[tuple[str, str], ...] = ()  # added to the upstream URL when the client did not send it
    #: OpenAI-family quirk of Gemini's compatible endpoint: thinking tokens billed but not reported
    unreported_thinking: bool = False
    #: the provider's own OpenAI-compatible endpoint, where `X-Majordomo-Provider: <name>` on /v1/... goes
    openai_twin: str | None = None
    preset: bool = False  # a convenience row (not one of the guide's four APIs)
    doc: str = ""
    #: the environment variable holding the key the gateway sends for its clients (see credentials.py)
    api_key_env: str | None = None

    @property
    def configured(self) -> bool:
        return self.origin is not None

    @property
    def base_url(self) -> str:
        return (self.origin or "") + self.api_path

    @property
    def credential_env(self) -> str:
        """`MAJORDOMO_<NAME>_API_KEY` (`MAJORDOMO_GEMINI_OPENAI_API_KEY`) unless the config names another."""
        return self.api_key_env or f"MAJORDOMO_{self.name.upper().replace('-', '_')}_API_KEY"


def split_base_url(base_url: str) -> tuple[str, str]:
    """`https://api.groq.com/openai/v1/` → (`https://api.groq.com`, `/openai/v1`)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must be http(s)://host[:port][/path], got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL must not have a query or fragment, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


#: Names appear in URL paths and header values: plain lowercase words.
_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,39}$")

OPENAI: Final = Provider(
    "openai",
    Family.OPENAI,
    "https://api.openai.com",
    "/v1",
    price_id="openai",
    otel_name="openai",
    key_header="authorization",
    doc="OpenAI",
)
ANTHROPIC: Final = Provider(
    "anthropic",
    Family.ANTHROPIC,
    "https://api.anthropic.com",
    "",
    price_id="anthropic",
    otel_name="anthropic",
    key_header="x-api-key",
    stream_usage=StreamUsage.ALWAYS,
    doc="Anthropic Messages API",
)
GEMINI: Final = Provider(
    "gemini",
    Family.GEMINI,
    "https://generativelanguage.googleapis.com",
    "",
    price_id="google",
    otel_name="gcp.gemini",
    key_header="x-goog-api-key",
    stream_usage=StreamUsage.ALWAYS,
    openai_twin="gemini-openai",
    doc="Gemini API (generateContent)",
)
GEMINI_OPENAI: Final = Provider(
    "gemini-openai",
    Family.OPENAI,
    "https://generativelanguage.googleapis.com",
    "/v1beta/openai",
    price_id="google",
    otel_name="gcp.gemini",
    key_header="authorization",
    stream_usage=StreamUsage.ALWAYS,
    unreported_thinking=True,
    doc="Gemini's OpenAI-compatible endpoint",
)


def _preset(name: str, base_url: str | None, price_id: str, otel_name: str, doc: str, **kw: Any) -> Provider:
    origin, api_path = split_base_url(base_url) if base_url else (None, kw.pop("api_path"))
    return Provider(
        name, Family.OPENAI, origin, api_path, price_id, otel_name, kw.pop("key_header", "authorization"),
        preset=True, doc=doc, **kw,
    )  # fmt: skip


BUILTIN: Final[tuple[Provider, ...]] = (
    OPENAI,
    ANTHROPIC,
    GEMINI,
    GEMINI_OPENAI,
    # Azure OpenAI: the resource's own host (configure `base_url = "https://<resource>.openai.azure.com/openai"`),
    # deployment paths (/openai/deployments/<deployment>/chat/completions) and an `api-version` query.
    _preset(
        "azure",
        None,
        "azure",
        "azure.ai.openai",
        "Azure OpenAI",
        api_path="/openai",
        key_header="api-key",
        query=(("api-version", "2024-10-21"),),
    ),
    _preset("groq", "https://api.groq.com/openai/v1", "groq", "groq", "Groq"),
    _preset(
        "mistral", "https://api.mistral.ai/v1", "mistral", "mistral_ai", "Mistral", stream_usage=StreamUsage.ALWAYS
    ),
    _preset("deepseek", "https://api.deepseek.com/v1", "deepseek", "deepseek", "DeepSeek"),
    _preset("xai", "https://api.x.ai/v1", "x-ai", "x_ai", "xAI"),
    _preset("openrouter", "https://openrouter.ai/api/v1", "openrouter", "openrouter", "OpenRouter"),
    _preset("together", "https://api.together.xyz/v1", "together", "together", "Together AI"),
    _preset("fireworks", "https://api.fireworks.ai/inference/v1", "fireworks", "fireworks", "Fireworks"),
)


_CONFIG_KEYS: Final = frozenset(
    {"base_url", "family", "price_id", "otel_name", "key_header", "stream_usage", "query", "api_key_env"}
)


def provider_from_config(name: str, entry: Mapping[str, Any], builtin: Provider | None = None) -> Provider:
    """A `[providers.NAME]` table: a new provider, or changes to a built-in one (its base URL, say)."""
    if not _NAME.match(name):
        raise ValueError(f"provider name {name!r}: use lowercase letters, digits and '-' (max 40)")
    unknown = set(entry) - _CONFIG_KEYS
    if unknown:
        raise ValueError(f"[providers.{name}]: unknown key(s) {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {}
    if "base_url" in entry:
        changes["origin"], changes["api_path"] = split_base_url(str(entry["base_url"]))
    for key in ("price_id", "otel_name", "key_header", "api_key_env"):
        if key in entry:
            changes[key] = str(entry[key]).lower() if key == "key_header" else str(entry[key])
    try:
        if "family" in entry:
            changes["family"] = Family(str(entry["family"]).lower())
        if "stream_usage" in entry:
            changes["stream_usage"] = StreamUsage(str(entry["stream_usage"]).lower())
    except ValueError as exc:
        raise ValueError(f"[providers.{name}]: {exc}") from None
    if "query" in entry:
        changes["query"] = tuple((str(k), str(v)) for k, v in dict(entry["query"]).items())
    if builtin is not None:
        return replace(builtin, **changes)
    if "base_url" not in entry:
        raise ValueError(f"[providers.{name}]: base_url is required for a provider of your own")
    family = changes.pop("family", Family.OPENAI)
    return Provider(
        name=name,
        family=family,
        origin=changes.pop("origin"),
        api_path=changes.pop("api_path"),
        price_id=changes.pop("price_id", None),
        otel_name=changes.pop("otel_name", name),
        key_header=changes.pop("key_header", _DEFAULT_KEY_HEADER[family]),
        **changes,
    )


_DEFAULT_KEY_HEADER: Final = {
    Family.OPENAI: OPENAI.key_header,
    Family.ANTHROPIC: ANTHROPIC.key_header,
    Family.GEMINI: GEMINI.key_header,
}


#: Who answers each family's root paths (`/v1/...`, `/v1/messages`, `/v1beta/...`) without a prefix or header.
_ROOTS: Final = {Family.OPENAI: OPENAI.name, Family.ANTHROPIC: ANTHROPIC.name, Family.GEMINI: GEMINI.name}


@dataclass(frozen=True, slots=True)
class ProviderTable:
    """The providers this gateway knows, by name; `root` names the owner of each family's root paths."""

    providers: Mapping[str, Provider]
    root: Mapping[Family, str] = field(default_factory=lambda: dict(_ROOTS))

    @classmethod
    def build(
        cls, origins: Mapping[str, str] | None = None, config: Mapping[str, Mapping[str, Any]] | None = None
    ) -> ProviderTable:
        """Built-ins, their origins replaced from `origins` (the base-URL settings), then the config's rows."""
        rows = {p.name: p for p in BUILTIN}
        for name, url in (origins or {}).items():
            origin, prefix = split_base_url(url)
            rows[name] = replace(rows[name], origin=origin + prefix)  # a path here prefixes the provider's own
        for name, entry in (config or {}).items():
            rows[name] = provider_from_config(name, entry, rows.get(name))
        return cls(rows)

    def __getitem__(self, name: str) -> Provider:
        return self.providers[name]

    def get(self, name: str) -> Provider | None:
        return self.providers.get(name)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.providers.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.providers)

    def root_provider(self, family: Family) -> Provider:
        return self.providers[self.root[family]]

    def openai_twin(self, provider: Provider) -> Provider | None:
        return self.providers.get(provider.openai_twin) if provider.openai_twin else None

    def credential_owner(self, provider: Provider) -> Provider:
        """Whose key a provider uses: an OpenAI-compatible twin (`gemini-openai`) uses its API's (`gemini`)."""
        for owner in self.providers.values():
            if owner.openai_twin == provider.name:
                return owner
        return provider
