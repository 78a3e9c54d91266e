"""`[prices]` in the config file: models genai-prices does not know get a price, and rows say where it came from."""

from __future__ import annotations

from decimal import Decimal

import pytest

from majordomo_otel.gateway.custom_prices import CustomPrices
from majordomo_otel.gateway.pricing import Price, Pricer
from majordomo_otel.gateway.usage import Usage

FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:acme::abc123"


def test_a_fine_tune_is_priced_from_the_config_and_says_so() -> None:
    pricer = Pricer(custom=CustomPrices({FINE_TUNE: {"input": 0.30, "output": 1.20}}))
    usage = Usage(input_tokens=2_000, output_tokens=500)
    assert pricer.price_record("openai", FINE_TUNE, usage) == (
        Price(input_cost=Decimal("0.0006"), output_cost=Decimal("0.0006"), total_cost=Decimal("0.0012")),
        "priced_by_config",
    )


def test_cache_reads_and_writes_have_their_own_rates_and_default_to_the_input_rate() -> None:
    prices = CustomPrices(
        {"a": {"input": "3", "output": "15", "cache_read": "0.3"}, "b": {"input": 1, "output": 1, "cache_write": 4}}
    )
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cache_read_tokens=400_000, cache_write_tokens=100_000)
    costs = [rates.cost(usage) for rates in (prices.get("openai", "a"), prices.get("openai", "b")) if rates]
    # a: 500k fresh x 3 + 400k x 0.3 + 100k x 3 (write at input rate); b: 500k + 400k + 100k x 4
    assert costs == [(Decimal("1.92"), Decimal("0")), (Decimal("1.3"), Decimal("0"))]


def test_a_configured_price_wins_over_genai_prices_for_the_same_model() -> None:
    pricer = Pricer(custom=CustomPrices({"gpt-4o-mini": {"input": 0.1, "output": 0.1, "provider": "openai"}}))
    price, status = pricer.price_record("openai", "gpt-4o-mini", Usage(input_tokens=1_000_000, output_tokens=0))
    assert (price.total_cost if price else None, status) == (Decimal("0.1"), "priced_by_config")


def test_a_price_for_one_provider_does_not_price_another() -> None:
    pricer = Pricer(custom=CustomPrices({"llama-3-70b": {"input": 1, "output": 1, "provider": "vllm"}}))
    usage = Usage(input_tokens=10, output_tokens=10)
    assert (
        pricer.price_record("vllm", "llama-3-70b", usage)[1],
        pricer.price_record("groq", "llama-3-70b", usage),
    ) == (
        "priced_by_config",
        (None, "unknown_model"),
    )


def test_more_cached_than_input_tokens_is_unpriceable_not_negative() -> None:
    pricer = Pricer(custom=CustomPrices({"m": {"input": 1, "output": 1}}))
    assert pricer.price_record("openai", "m", Usage(input_tokens=10, output_tokens=1, cache_read_tokens=20)) == (
        None,
        "unpriceable",
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"output": 1}, r"\[prices.'m'\]: input is required"),
        ({"input": 1, "output": -1}, r"output must be a non-negative number"),
        ({"input": "cheap", "output": 1}, r"input must be a number"),
        ({"input": True, "output": 1}, r"input must be a number"),
        ({"input": 1, "output": 1, "cached": 1}, r"unknown key\(s\) cached"),
        ({"input": float("nan"), "output": 1}, r"input must be a non-negative number"),
    ],
)
def test_bad_prices_are_refused_with_the_reason(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CustomPrices({"m": entry})
