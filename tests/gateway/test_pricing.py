"""Pricer: the same cost as genai-prices / Pydantic AI for every recorded exchange, cached lookups."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import calc_price, extract_usage
from genai_prices.types import ModelPrice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from majordomo_otel.gateway.pricing import GENAI_PRICES_PROVIDER_IDS, Price, Pricer, price_usage
from majordomo_otel.gateway.usage import Usage, UsageStatus, reader_for
from majordomo_otel.gateway.usage._gemini import gemini_usage
from majordomo_otel.sim._fixtures import BUNDLED_FIXTURES

FIXTURES = BUNDLED_FIXTURES
_ROUTES = {
    ("openai", "chat_completions"): ("openai", "chat_completions", "chat"),
    ("openai", "responses"): ("openai", "responses", "responses"),
    ("anthropic", "messages"): ("anthropic", "messages", "default"),
    ("gemini", "generate_content"): ("gemini", "generate_content", "default"),
    ("gemini", "openai_compat"): ("gemini-openai", "chat_completions", "chat"),
}


def _fixtures() -> list[tuple[str, dict[str, Any]]]:
    paths = sorted(FIXTURES.glob("**/*.json"))
    assert len(paths) >= 51, f"fixtures not found under {FIXTURES}"
    return [(str(p.relative_to(FIXTURES).with_suffix("")), json.loads(p.read_text())) for p in paths]


FIXTURE_DATA = _fixtures()


def _read(data: dict[str, Any]) -> tuple[str, Any]:
    """(our provider name, UsageResult) for a fixture, through the real reader."""
    provider, operation, _ = _ROUTES[(data["provider"], data["api"])]
    response = data["response"]
    if "raw_body_base64" in response:
        wire = base64.b64decode(response["raw_body_base64"])
    elif "sse" in response:
        wire = (response["sse_separator"].join(response["sse"]) + response["sse_separator"]).encode()
    else:
        wire = json.dumps(response["body"]).encode()
    reader = reader_for(
        provider,
        operation,
        streamed=data["streaming"],
        content_type=response["headers"].get("content-type"),
        content_encoding=response["headers"].get("content-encoding"),
    )
    reader.feed(wire)
    return provider, reader.finish()


def _sse_json(response: dict[str, Any]) -> list[Any]:
    out = []
    for event in response["sse"]:
        for line in event.splitlines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                out.append(json.loads(line[5:]))
    return out


def _final_payload(data: dict[str, Any]) -> Any:
    """The response data Pydantic AI hands genai-prices' extractor, from the raw recording."""
    response = data["response"]
    api = data["api"]
    if "sse" not in response:
        body = response["body"]
        return body[-1] if isinstance(body, list) else body
    events = _sse_json(response)
    if api in ("chat_completions", "openai_compat"):
        return next(e for e in events if isinstance(e.get("usage"), dict))
    if api == "responses":
        return next(e["response"] for e in events if e.get("type") == "response.completed")
    if api == "messages":  # message_start's usage, updated by the message_deltas (as Pydantic AI merges)
        usage: dict[str, Any] = {}
        model = None
        for e in events:
            if e.get("type") == "message_start":
                usage |= e["message"]["usage"]
                model = e["message"]["model"]
            elif e.get("type") == "message_delta":
                usage |= {k: v for k, v in e["usage"].items() if v is not None}
        return {"model": model, "usage": usage}
    return [e for e in events if "usageMetadata" in e][-1]


def _priced_cases() -> list[Any]:
    cases = []
    for name, data in FIXTURE_DATA:
        provider, result = _read(data)
        if result.status is UsageStatus.REPORTED and Pricer().known(provider, result.model):
            cases.append(pytest.param(data, provider, result, id=name))
    return cases


PRICED = _priced_cases()


def _same(ours: Price | None, ref: Any) -> bool:
    """Equal as Decimals and written the same (so stored text is identical too)."""
    if ref is None or ours is None:
        return ours is ref
    theirs = (ref.input_price, ref.output_price, ref.total_price)
    mine = (ours.input_cost, ours.output_cost, ours.total_cost)
    return mine == theirs and tuple(map(str, mine)) == tuple(map(str, theirs))


def _calc(usage: Usage, model: str, provider: str, **kwargs: Any) -> Any:
    """genai-prices' `calc_price` on our usage, None where it refuses the counts."""
    try:
        return calc_price(price_usage(usage), model, provider_id=GENAI_PRICES_PROVIDER_IDS[provider], **kwargs)
    except ValueError:
        return None


def test_every_reported_fixture_is_priced() -> None:
    """51 recordings, 8 without usage (errors, streams without include_usage): 43 priced."""
    assert len(PRICED) == 43


@pytest.mark.parametrize(("data", "provider", "result"), PRICED)
def test_price_equals_genai_prices_calc_price(data, provider, result) -> None:
    """The compiled fast path gives exactly what `calc_price` gives for the same usage object."""
    ours = Pricer().price(provider, result.model, result.usage)
    assert ours is not None
    assert _same(ours, _calc(result.usage, result.model, provider))


def _pydantic_ai_reference(data: dict[str, Any], provider: str, model: str) -> Any:
    _, _, flavor = _ROUTES[(data["provider"], data["api"])]
    provider_id = GENAI_PRICES_PROVIDER_IDS[provider]
    extracted = extract_usage(_final_payload(data), provider_id=provider_id, api_flavor=flavor)
    return calc_price(extracted.usage, model, provider_id=provider_id)


@pytest.mark.parametrize(("data", "provider", "result"), PRICED)
def test_price_equals_pydantic_ai_extraction(data, provider, result) -> None:
    """Pydantic AI extracts usage from the raw response with genai-prices' extractor, then calls
    calc_price with the provider id: our normalised usage prices exactly the same, audio included."""
    ref = _pydantic_ai_reference(data, provider, result.model)
    assert Pricer().price(provider, result.model, result.usage) == Price(
        ref.input_price, ref.output_price, ref.total_price
    )


def test_gemini_audio_is_priced_at_the_audio_rate() -> None:
    """gemini-2.5-flash: text $0.30/MTok, audio $1/MTok, cached audio $0.10/MTok: 1000 text,
    1000 fresh audio, 1000 cached audio = 0.0003 + 0.001 + 0.0001."""
    usage = Usage(
        input_tokens=3000,
        output_tokens=0,
        cache_read_tokens=1000,
        input_audio_tokens=2000,
        cache_audio_read_tokens=1000,
    )
    assert Pricer().price("gemini", "gemini-2.5-flash", usage) == _p("0.0014", "0", "0.0014")


def test_gemini_audio_prompt_beside_a_text_only_cache_is_priced() -> None:
    """The cache lists only TEXT: no cached audio (genai-prices needs that said explicitly)."""
    meta = {
        "promptTokenCount": 3000,
        "candidatesTokenCount": 0,
        "cachedContentTokenCount": 1000,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2000}, {"modality": "AUDIO", "tokenCount": 1000}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
    }
    usage = gemini_usage(meta)
    assert usage is not None
    # 1000 fresh text at $0.30, 1000 cached text at $0.03, 1000 audio at $1 per MTok
    assert Pricer().price("gemini", "gemini-2.5-flash", usage) == _p("0.00133", "0", "0.00133")


def _p(input_cost: str, output_cost: str, total_cost: str) -> Price:
    return Price(Decimal(input_cost), Decimal(output_cost), Decimal(total_cost))


def test_unknown_model_is_none_and_flagged() -> None:
    pricer = Pricer()
    assert pricer.price("openai", "gpt-not-a-model-9", Usage(input_tokens=10, output_tokens=5)) is None
    assert pricer.known("openai", "gpt-not-a-model-9") is False


def test_no_usage_is_none_but_model_known() -> None:
    pricer = Pricer()
    assert pricer.price("openai", "gpt-4o-mini", Usage()) is None
    assert pricer.known("openai", "gpt-4o-mini") is True


def test_no_model_is_none() -> None:
    assert Pricer().price("openai", None, Usage(input_tokens=10, output_tokens=5)) is None


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        # gpt-4o-mini: $0.15 / $0.60 per MTok
        (
            "openai",
            "gpt-4o-mini-2024-07-18",
            Price(Decimal("0.00015"), Decimal("0.0006"), Decimal("0.00075")),
        ),
        # claude-sonnet-4-5: $3 / $15 per MTok
        (
            "anthropic",
            "claude-sonnet-4-5-20250929",
            _p("0.003", "0.015", "0.018"),
        ),
    ],
)
def test_dated_snapshots_are_priced(provider, model, expected) -> None:
    assert Pricer().price(provider, model, Usage(input_tokens=1000, output_tokens=1000)) == expected


def test_cache_reads_are_cheaper_than_input() -> None:
    pricer = Pricer()
    plain = pricer.price("openai", "gpt-4o-mini", Usage(input_tokens=1000, output_tokens=0))
    cached = pricer.price("openai", "gpt-4o-mini", Usage(input_tokens=1000, output_tokens=0, cache_read_tokens=1000))
    assert (plain, cached) == (
        Price(Decimal("0.00015"), Decimal("0"), Decimal("0.00015")),
        Price(Decimal("0.000075"), Decimal("0"), Decimal("0.000075")),
    )


def test_impossible_counts_are_none() -> None:
    """More cached than total input: genai-prices refuses, we return None (known model)."""
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_tokens=100)
    assert Pricer().price("openai", "gpt-4o-mini", usage) is None


def test_lookup_runs_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_prices.data_snapshot import DataSnapshot

    calls: list[str] = []
    original = DataSnapshot.find_provider_model

    def counting(self, model_ref, *args):
        calls.append(model_ref)
        return original(self, model_ref, *args)

    monkeypatch.setattr(DataSnapshot, "find_provider_model", counting)
    pricer = Pricer()
    for _ in range(3):
        pricer.price("openai", "gpt-4o-mini", Usage(input_tokens=1, output_tokens=1))
        pricer.price("openai", "no-such-model", Usage(input_tokens=1, output_tokens=1))
    assert calls == ["gpt-4o-mini", "no-such-model"]


def test_gemini_openai_prices_as_google() -> None:
    usage = Usage(input_tokens=1000, output_tokens=1000)
    assert Pricer().price("gemini-openai", "gemini-2.5-flash", usage) == Pricer().price(
        "gemini", "gemini-2.5-flash", usage
    )


#: The fixtures' models and the ones the stand-in and demo use.
RANDOM_MODELS = sorted(
    {(provider, result.model) for _, provider, result in (p.values for p in PRICED)}
    | {("openai", m) for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5")}
    | {("anthropic", m) for m in ("claude-sonnet-4-20250514", "claude-sonnet-4-5", "claude-3-5-haiku")}
    | {("gemini", m) for m in ("gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro")}
    | {("gemini-openai", "gemini-2.5-flash")}
)
_count = st.one_of(
    st.none(), st.integers(0, 50), st.integers(0, 2_000), st.integers(150_000, 260_000), st.integers(0, 10**9)
)


@st.composite
def _usages(draw: st.DrawFn) -> Usage:
    """Counts mostly consistent (subsets within their totals, prompts around the 200k tiers), sometimes not."""
    total_in = draw(st.one_of(st.none(), st.integers(0, 300_000), st.sampled_from([200_000, 200_001])))
    total_out = draw(st.one_of(st.none(), st.integers(0, 100_000)))

    def part(of: int | None) -> int | None:
        if of is None or of < 0 or draw(st.booleans()):
            return draw(_count)
        return draw(st.one_of(st.none(), st.integers(0, of)))

    cache_read = part(total_in)
    cache_write = part(None if total_in is None or cache_read is None else total_in - cache_read)
    return Usage(
        input_tokens=total_in,
        output_tokens=total_out,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=part(cache_write),
        reasoning_tokens=part(total_out),
        input_audio_tokens=part(total_in),
        cache_audio_read_tokens=part(cache_read),
        output_audio_tokens=part(total_out),
    )


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(RANDOM_MODELS), usage=_usages())
def test_random_usages_equal_calc_price(model: tuple[str, str], usage: Usage) -> None:
    """Any counts, any of the models: the same Decimal (same digits) as `calc_price`, or None
    exactly where `calc_price` raises."""
    provider, name = model
    expected = _calc(usage, name, provider) if usage.reported else None
    assert _same(_PRICER.price(provider, name, usage), expected)


_PRICER = Pricer()


def test_random_models_are_all_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every one of those models is priced by the compiled plan, never by genai-prices' calc_price."""

    def refuse(self, usage):
        raise AssertionError("genai-prices' calc_price was called")

    monkeypatch.setattr(ModelPrice, "calc_price", refuse)
    pricer = Pricer()
    usage = Usage(input_tokens=250_000, output_tokens=10, cache_read_tokens=5, reasoning_tokens=1)
    assert all(pricer.price(provider, model, usage) is not None for provider, model in RANDOM_MODELS)


def test_tiers_apply_above_200k_prompt_tokens() -> None:
    """gemini-2.5-pro: $1.25/$10 per MTok up to 200k prompt tokens, $2.50/$15 above (all tokens)."""
    pricer = Pricer()
    assert [
        pricer.price("gemini", "gemini-2.5-pro", Usage(input_tokens=n, output_tokens=1_000_000))
        for n in (200_000, 200_001)
    ] == [_p("0.25", "10", "10.25"), _p("0.5000025", "15", "15.5000025")]


#: openai `o3` has a price that changed on a start date; Anthropic and Google have such models too.
DATED = [("openai", "o3"), ("anthropic", "claude-sonnet-4-6"), ("gemini", "gemini-3-pro-preview")]
DATES = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 6, 10, 12, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]


@pytest.mark.parametrize(("provider", "model"), DATED)
def test_dated_prices_follow_the_request_time(provider, model) -> None:
    usage = Usage(input_tokens=300_000, output_tokens=2_000, cache_read_tokens=1_000)
    pricer = Pricer()
    ours = [pricer.price(provider, model, usage, at=at) for at in [*DATES, None]]
    refs = [_calc(usage, model, provider, genai_request_timestamp=at) for at in [*DATES, None]]
    assert [_same(o, r) for o, r in zip(ours, refs, strict=True)] == [True] * 4


def test_dated_prices_change_between_dates() -> None:
    """The data really is time-dependent (so the test above is not vacuous)."""
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    pricer = Pricer()
    assert len({pricer.price("openai", "o3", usage, at=at) for at in DATES}) > 1


@pytest.mark.parametrize("context", [{"service_tier": "priority"}, {"processing": "batch"}])
def test_price_context_selects_variants_as_calc_price(context: dict[str, str]) -> None:
    usage = Usage(input_tokens=10_000, output_tokens=2_000, cache_read_tokens=1_000)
    ours = Pricer().price("openai", "gpt-4o", usage, price_context=context)
    assert _same(ours, _calc(usage, "gpt-4o", "openai", price_context=context))
    assert ours != Pricer().price("openai", "gpt-4o", usage)


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_counts_that_are_not_plain_ints_go_to_genai_prices(bad: Any) -> None:
    """Negative counts and bools are refused (None); floats are priced, as genai-prices does."""
    usage = Usage(input_tokens=1_000, output_tokens=bad)
    assert _same(Pricer().price("openai", "gpt-4o", usage), _calc(usage, "gpt-4o", "openai"))


def test_dated_price_is_re_resolved_at_utc_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """o3 went from $10/$40 to $2/$8 per MTok on 2025-06-10 (UTC): one Pricer, the clock crossing it."""
    import types

    from majordomo_otel.gateway import pricing

    clock = types.SimpleNamespace(time=lambda: datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC).timestamp())
    monkeypatch.setattr(pricing, "time", clock)
    pricer = Pricer()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    before = pricer.price("openai", "o3", usage)
    clock.time = lambda: datetime(2025, 6, 10, 0, 0, 0, tzinfo=UTC).timestamp()
    after = pricer.price("openai", "o3", usage)
    assert (before, after) == (_p("10", "40", "50"), _p("2", "8", "10"))
