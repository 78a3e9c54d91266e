"""Money as the ledger keeps it: USD to 12 decimal places (PostgreSQL's `NUMERIC(20,12)`).

Budgets count in whole picoUSD (integers, so sums are exact and cheap); `majordomo costs`, budgets
and the demo print USD the same way. One scale, defined here, for all of them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

SCALE: Final = 12
QUANTUM: Final = Decimal(1).scaleb(-SCALE)


def to_pico(usd: Decimal) -> int:
    """USD → whole picoUSD, rounded half up."""
    return int(usd.scaleb(SCALE).to_integral_value(ROUND_HALF_UP))


def from_pico(pico: int) -> Decimal:
    """Whole picoUSD → USD."""
    return Decimal(pico).scaleb(-SCALE)


def format_cost(value: Decimal | None) -> str | None:
    """Plain decimal text with no exponent and no trailing zeros: `0.0001851`, `12`, `0`."""
    if value is None:
        return None
    text = format(value.quantize(QUANTUM, rounding=ROUND_HALF_UP).normalize(), "f")
    return "0" if text in {"-0", "0"} else text
