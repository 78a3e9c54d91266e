"""Pricer: the same cost as genai-prices / Pydantic AI for every recorded exchange, cached lookups."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import calc_price, extract_usage

from majordomo_otel.gateway.pricing import GENAI_PRICES_PROVIDER_IDS, Price, Pricer
from majordomo_otel.gateway.usage import Usage, UsageStatus, reader_for

FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "provider-fixtures").resolve()
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


def _multimodal(param: Any) -> bool:
    """Audio counts exist only per modality (Gemini's *TokensDetails), which our Usage cannot carry."""
    return '"AUDIO"' in json.dumps(_final_payload(param.values[0]))


PRICED_TEXT = [p for p in PRICED if not _multimodal(p)]
PRICED_AUDIO = [p for p in PRICED if _multimodal(p)]


def test_every_reported_fixture_is_priced() -> None:
    """51 recordings, 8 without usage (errors, streams without include_usage): 43 priced."""
    assert len(PRICED) == 43


@pytest.mark.parametrize(("data", "provider", "result"), PRICED)
def test_price_equals_genai_prices_calc_price(data, provider, result) -> None:
    """Our cached path gives exactly what `calc_price` gives for the same usage object."""
    from majordomo_otel.gateway.pricing import price_usage

    ours = Pricer().price(provider, result.model, result.usage)
    ref = calc_price(price_usage(result.usage), result.model, provider_id=GENAI_PRICES_PROVIDER_IDS[provider])
    assert ours == Price(ref.input_price, ref.output_price, ref.total_price)


def _pydantic_ai_reference(data: dict[str, Any], provider: str, model: str) -> Any:
    _, _, flavor = _ROUTES[(data["provider"], data["api"])]
    provider_id = GENAI_PRICES_PROVIDER_IDS[provider]
    extracted = extract_usage(_final_payload(data), provider_id=provider_id, api_flavor=flavor)
    return calc_price(extracted.usage, model, provider_id=provider_id)


@pytest.mark.parametrize(("data", "provider", "result"), PRICED_TEXT)
def test_price_equals_pydantic_ai_extraction(data, provider, result) -> None:
    """Pydantic AI extracts usage from the raw response with genai-prices' extractor, then calls
    calc_price with the provider id: our normalised usage must price the same (to 1e-12)."""
    ref = _pydantic_ai_reference(data, provider, result.model)
    ours = Pricer().price(provider, result.model, result.usage)
    assert ours is not None
    assert abs(ours.total_cost - ref.total_price) < Decimal("1e-12")
    assert abs(ours.input_cost - ref.input_price) < Decimal("1e-12")
    assert abs(ours.output_cost - ref.output_price) < Decimal("1e-12")


@pytest.mark.parametrize(("data", "provider", "result"), PRICED_AUDIO)
def test_audio_input_is_priced_as_text_known_gap(data, provider, result) -> None:
    """Known gap: audio input (priced higher by Gemini) is counted, but at the text rate, because
    `Usage` has no audio fields; Pydantic AI's cost is higher by exactly the audio surcharge."""
    ref = _pydantic_ai_reference(data, provider, result.model)
    ours = Pricer().price(provider, result.model, result.usage)
    assert ours is not None
    assert (ours.output_cost, ours.input_cost < ref.input_price) == (ref.output_price, True)


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
    cached = pricer.price(
        "openai", "gpt-4o-mini", Usage(input_tokens=1000, output_tokens=0, cache_read_tokens=1000)
    )
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
