"""What a stored record should look like, computed from what the stand-in provider sent.

The sim records the usage it reported (`RecordedRequest.usage`, normalised as docs/architecture.md says), so a
test can say "the row carries exactly the sim's tokens, priced as genai-prices prices them" without
repeating numbers the sim derives from request sizes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import genai_prices
from dirty_equals import IsApprox, IsOneOf

from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.sim import RecordedRequest, SimUsage

GENAI_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "gemini-openai": "google"}
"""Gateway provider name → genai-prices provider id."""

COST_TOLERANCE = Decimal("1e-9")

ROW_FIELDS = (
    "provider",
    "model",
    "operation",
    "streamed",
    "status_code",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "usage_status",
    "pricing_status",
    "total_cost",
    "raw_metadata",
)


def row(record: RequestRecord) -> dict[str, Any]:
    """The fields of a record these tests compare, as one dict."""
    return {name: getattr(record, name) for name in ROW_FIELDS}


def wire_streamed(request: RecordedRequest) -> bool:
    """Whether the client asked for a stream on the wire (some SDKs stream even for a non-streaming call)."""
    body = request.json
    return ":streamGenerateContent" in request.path or (isinstance(body, dict) and body.get("stream") is True)


def sim_cost(usage: SimUsage, model: str, provider: str) -> Decimal:
    """genai-prices' total for the sim's usage: the independent reference for the gateway's cost."""
    prices_usage = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    return genai_prices.calc_price(prices_usage, model, provider_id=GENAI_PROVIDER[provider]).total_price


def expected_row(
    usage: SimUsage | None,
    *,
    provider: str,
    model: str,
    operation: str,
    streamed: bool,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """The row a successful, priced request answered with `usage` must produce."""
    assert usage is not None, "the sim sent no usage for this request"
    cost = sim_cost(usage, model, provider)
    assert cost > 0
    return {
        "provider": provider,
        "model": model,
        "operation": operation,
        "streamed": streamed,
        "status_code": 200,
        "input_tokens": usage.input_tokens,
        "output_tokens": _count(usage.output_tokens),
        "cached_tokens": _count(usage.cache_read_tokens),
        "cache_creation_tokens": _count(usage.cache_write_tokens),
        "reasoning_tokens": _count(usage.reasoning_tokens),
        "usage_status": "reported",
        "pricing_status": "priced",
        "total_cost": IsApprox(cost, delta=COST_TOLERANCE),
        "raw_metadata": metadata,
    }


def _count(value: int) -> Any:
    """A detail count the sim sent; zero may be stored as 0 or NULL (the provider's wire did not carry it)."""
    return value if value else IsOneOf(0, None)
