"""How much of each budget the current window has used, read from the database (`majordomo budgets list`,
`majordomo costs --budgets`). It is the flushed spend of every replica: at most one refresh interval behind
what the gateways decide from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from majordomo_otel._money import from_pico
from majordomo_otel.gateway.store import Store

from ._match import subject_values
from ._model import KEY, Budget
from ._store import key_names, read_budgets, window_spend
from ._windows import period_at


@dataclass(frozen=True, slots=True)
class ValueUsage:
    """One value (combination) of a budget's `*` conditions: `{"user_id": "u1"}`."""

    values: dict[str, str]
    spent: Decimal

    def label(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.values.items())


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    budget: Budget
    window_start: datetime
    resets_at: datetime
    #: the window's spend; for a budget with `*`, that of its costliest value
    spent: Decimal
    #: budgets with `*`: the costliest values, most first
    top: tuple[ValueUsage, ...] = ()
    values: int = 0
    #: how many values (1 for a budget without `*`) have reached the limit
    over_limit: int = 0

    @property
    def share(self) -> Decimal:
        """Spent / limit (1 = used up)."""
        return self.spent / self.budget.limit


def _usd(pico: int) -> Decimal:
    return from_pico(pico)


async def budget_usage(store: Store, *, now: float | None = None, top: int = 5) -> list[BudgetUsage]:
    """Every budget's use of its current window, by name."""
    at = time.time() if now is None else now
    budgets = await read_budgets(store)
    names = await key_names(store) if any(c.name == KEY and c.value is None for b in budgets for c in b.scope) else {}
    result = []
    for budget in budgets:
        period = period_at(budget.window, budget.timezone, at)
        spend = await window_spend(store, budget.id, period.key)
        start = datetime.fromtimestamp(period.start, period.resets_at().tzinfo)
        if not budget.each:
            spent = spend.get("", 0)
            result.append(
                BudgetUsage(budget, start, period.resets_at(), _usd(spent), over_limit=int(spent >= budget.limit_pico))
            )
            continue
        shown = []
        for subject, pico in list(spend.items())[:top]:
            values = {
                c.name: names.get(v, v) if c.name == KEY else v
                for c, v in zip(budget.each, subject_values(subject), strict=True)
            }
            shown.append(ValueUsage(values, _usd(pico)))
        result.append(
            BudgetUsage(
                budget,
                start,
                period.resets_at(),
                _usd(max(spend.values(), default=0)),
                top=tuple(shown),
                values=len(spend),
                over_limit=sum(1 for pico in spend.values() if pico >= budget.limit_pico),
            )
        )
    return result
