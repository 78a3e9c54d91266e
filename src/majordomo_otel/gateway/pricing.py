"""Prices a request's usage with genai-prices, the way Pydantic AI does, with cached model lookups.

Pydantic AI prices a response with `genai_prices.calc_price(usage, model_name, provider_id=...)`
(after trying the provider's API URL, which through the gateway is the gateway's and so never
matches). `calc_price` first resolves (provider, model) by searching the price data (a model
search that genai-prices does not cache when it fails) and then computes the price from the
model's `ModelInfo`. `Pricer` does the resolution once per (provider, model) — misses included —
and then calls the very same `ModelInfo.calc_price`, so its cost equals Pydantic AI's
`operation.cost` for the same counts.

Usage is handed over the way Pydantic AI's `RequestUsage` carries it: `input_tokens` (all input,
cache included), `output_tokens` (all output, reasoning included), `cache_read_tokens`,
`cache_write_tokens`, `cache_write_1h_tokens` and `output_reasoning_tokens`. Per-modality counts
(audio, image, video) are not in our `Usage`, so multimodal requests on models that price those
modalities apart can differ from Pydantic AI's cost.

`price()` returns None when there is nothing it can price; `known()` tells why: False means
genai-prices does not know the model (record it unpriced and flagged, never as 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from genai_prices import Usage as _PriceUsage
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import ModelInfo, Provider

from .usage import Usage

__all__ = ["GENAI_PRICES_PROVIDER_IDS", "Price", "Pricer"]

#: Our provider names → genai-prices provider ids (Gemini's OpenAI-compatible endpoint is Google's).
GENAI_PRICES_PROVIDER_IDS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "gemini-openai": "google",
}

#: Distinct (provider, model) pairs kept; model names come from responses and requests, so bound it.
_MAX_CACHED_MODELS = 4096


@dataclass(frozen=True, slots=True)
class Price:
    """Cost in USD."""

    input_cost: Decimal
    output_cost: Decimal
    total_cost: Decimal


def price_usage(usage: Usage) -> _PriceUsage:
    """Our `Usage` as the usage object genai-prices prices (the fields Pydantic AI's RequestUsage sets)."""
    values = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_write_1h_tokens": usage.cache_write_1h_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
    }
    return _PriceUsage(**{k: v for k, v in values.items() if v is not None})


class Pricer:
    """Resolves (provider, model) once, then prices each usage from the cached model.

    The cache follows genai-prices' current snapshot: if prices are updated in the background
    (`genai_prices.UpdatePrices`), lookups are redone against the new data.
    """

    def __init__(self) -> None:
        self._snapshot: DataSnapshot | None = None
        self._models: dict[tuple[str, str], tuple[Provider, ModelInfo] | None] = {}

    def known(self, provider: str, model: str | None) -> bool:
        """Whether genai-prices has a price for `model` at `provider`."""
        return model is not None and self._resolve(provider, model) is not None

    def price(
        self,
        provider: str,
        model: str | None,
        usage: Usage,
        *,
        at: datetime | None = None,
        price_context: Mapping[str, str] | None = None,
    ) -> Price | None:
        """The cost of `usage`, or None: no model, unknown model (`known()` is False), no usage
        reported, or counts genai-prices refuses (e.g. more cached than total input tokens).

        `at` is the request time (prices change over time; default now); `price_context` selects
        price variants such as `{"service_tier": "priority"}`, as Pydantic AI's provider_details do.
        """
        if model is None or not usage.reported:
            return None
        resolved = self._resolve(provider, model)
        if resolved is None:
            return None
        provider_info, model_info = resolved
        try:
            calc = model_info.calc_price(
                price_usage(usage),
                provider_info,
                genai_request_timestamp=at,
                price_context=dict(price_context) if price_context else None,
            )
        except ValueError:
            return None
        return Price(input_cost=calc.input_price, output_cost=calc.output_price, total_cost=calc.total_price)

    def _resolve(self, provider: str, model: str) -> tuple[Provider, ModelInfo] | None:
        snapshot = get_snapshot()
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._models = {}
        key = (provider, model)
        try:
            return self._models[key]
        except KeyError:
            pass
        provider_id = GENAI_PRICES_PROVIDER_IDS.get(provider, provider)
        try:
            resolved: tuple[Provider, ModelInfo] | None = snapshot.find_provider_model(
                model, None, provider_id, None
            )
        except LookupError:
            resolved = None
        if len(self._models) >= _MAX_CACHED_MODELS:
            self._models.clear()
        self._models[key] = resolved
        return resolved
