"""Prices from the config file, for models genai-prices does not know (fine-tunes, self-hosted, new releases).

    [prices."ft:gpt-4o-mini-2024-07-18:acme::abc123"]
    input = 0.30        # USD per million input tokens (cache reads and writes excepted, if priced apart)
    output = 1.20       # USD per million output tokens (reasoning included, as providers bill it)
    cache_read = 0.15   # optional, default: the input rate
    cache_write = 0.30  # optional, default: the input rate
    provider = "openai" # optional: only that provider's requests (default: any provider)

A configured price wins over genai-prices' for the same model (a negotiated rate, say); rows priced
from it say so (`pricing_status = 'priced_by_config'`). The arithmetic is genai-prices' own
convention: `input_tokens` counts every input token, cache reads and writes included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from .usage import Usage

_MILLION: Final = Decimal(1_000_000)
_KEYS: Final = frozenset({"input", "output", "cache_read", "cache_write", "provider"})


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal

    def cost(self, usage: Usage) -> tuple[Decimal, Decimal] | None:
        """(input cost, output cost), or None for counts that cannot be right (more cached than input)."""
        cached, written = usage.cache_read_tokens or 0, usage.cache_write_tokens or 0
        fresh = (usage.input_tokens or 0) - cached - written
        if fresh < 0:
            return None
        input_cost = (fresh * self.input + cached * self.cache_read + written * self.cache_write) / _MILLION
        return input_cost, (usage.output_tokens or 0) * self.output / _MILLION


class CustomPrices:
    """The config's `[prices]`: model → rates, per provider or for any provider."""

    def __init__(self, table: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._rates: dict[tuple[str | None, str], Rates] = {}
        for model, entry in (table or {}).items():
            provider, rates = _parse(model, entry)
            self._rates[(provider, model)] = rates

    def __bool__(self) -> bool:
        return bool(self._rates)

    def get(self, provider: str, model: str | None) -> Rates | None:
        if model is None or not self._rates:
            return None
        return self._rates.get((provider, model)) or self._rates.get((None, model))


def _parse(model: str, entry: Mapping[str, Any]) -> tuple[str | None, Rates]:
    where = f"[prices.{model!r}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a table with input and output (USD per million tokens)")
    if unknown := set(entry) - _KEYS:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for required in ("input", "output"):
        if required not in entry:
            raise ValueError(f"{where}: {required} is required (USD per million tokens)")
    rate = {key: _rate(where, key, value) for key, value in entry.items() if key != "provider"}
    provider = entry.get("provider")
    return (str(provider) if provider is not None else None), Rates(
        input=rate["input"],
        output=rate["output"],
        cache_read=rate.get("cache_read", rate["input"]),
        cache_write=rate.get("cache_write", rate["input"]),
    )


def _rate(where: str, key: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}: {key} must be a number (USD per million tokens), got {value!r}")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{where}: {key} must be a number (USD per million tokens), got {value!r}") from None
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"{where}: {key} must be a non-negative number, got {value!r}")
    return rate
