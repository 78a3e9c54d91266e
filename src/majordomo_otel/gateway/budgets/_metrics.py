"""Budget gauges (OTel), for alerts in Prometheus/Grafana or Logfire: read from this replica's ledger at
each export, so they cost nothing per request.

* `majordomo.budget.spend` (USD): the window's spend; for a budget with `*`, its costliest value's;
* `majordomo.budget.limit` (USD);
* `majordomo.budget.over_limit` ({value}): how many values are at or over the limit (0 or 1 without `*`).

Attributes: `majordomo.budget` (its name), `majordomo.budget.window`, `majordomo.budget.mode`. Never a
value of a `*` condition: user ids stay off metrics (a new series each), as in metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from majordomo_otel._money import from_pico

from ._enforcer import Budgets
from ._ledger import BudgetState


def _attributes(state: BudgetState) -> dict[str, str]:
    budget = state.budget
    return {
        "majordomo.budget": budget.name,
        "majordomo.budget.window": budget.window.value,
        "majordomo.budget.mode": budget.mode.value,
    }


def _usd(pico: int) -> float:
    return float(from_pico(pico))


def observe_budgets(meter: Meter, budgets: Budgets) -> None:
    def gauge(value: Callable[[BudgetState, list[int]], float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            now = budgets.clock()
            for state in list(budgets.ledger.states.values()):  # copies: the export thread reads the loop's dicts
                current = state.period.start <= now < state.period.end  # else a window nobody has spent in yet
                spent = [t.spent for t in list(state.tallies.values())] if current else []
                yield Observation(value(state, spent), _attributes(state))

        return observe

    meter.create_observable_gauge(
        "majordomo.budget.spend",
        callbacks=[gauge(lambda state, spent: _usd(max(spent, default=0)))],
        unit="USD",
        description="the budget's spend in its current window (a `*` budget: its costliest value's)",
    )
    meter.create_observable_gauge(
        "majordomo.budget.limit",
        callbacks=[gauge(lambda state, spent: _usd(state.limit))],
        unit="USD",
        description="the budget's limit per window",
    )
    meter.create_observable_gauge(
        "majordomo.budget.over_limit",
        callbacks=[gauge(lambda state, spent: sum(1 for s in spent if s >= state.limit))],
        unit="{value}",
        description="values of the budget at or over its limit this window",
    )
