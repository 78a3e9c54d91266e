"""The values `majordomo costs` computes: totals per group and one trace's records.

They sit apart from the queries that build them and the renderers that print them, so both depend on
these types and not on each other. Costs are `Decimal`s with PostgreSQL's 12 decimals on both stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .._money import QUANTUM


@dataclass(frozen=True, slots=True)
class CostRow:
    """Totals for one group. `total_cost` sums priced requests only; None when the group has none."""

    group: dict[str, str | None]
    requests: int
    input_tokens: int
    output_tokens: int
    total_cost: Decimal | None
    unpriced_requests: int


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One proxied request of a trace: enough to find its span and see what it cost."""

    id: str
    requested_at: datetime
    provider: str
    model: str | None
    feature: str | None
    step: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_cost: Decimal | None
    pricing_status: str
    status_code: int | None
    span_id: str | None
    parent_span_id: str | None


@dataclass(frozen=True, slots=True)
class TraceCosts:
    """The records of one trace, oldest first, and their totals."""

    trace_id: str
    records: list[TraceRecord] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.records)

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens or 0 for r in self.records)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens or 0 for r in self.records)

    @property
    def total_cost(self) -> Decimal | None:
        priced = [r.total_cost for r in self.records if r.pricing_status == "priced" and r.total_cost is not None]
        return sum(priced, Decimal(0)).quantize(QUANTUM) if priced else None

    @property
    def unpriced_requests(self) -> int:
        return sum(r.pricing_status != "priced" for r in self.records)
