"""Budgets: spend limits on any tag (each user, a feature, a key), per day, week or month, enforced by
every gateway replica from memory and shared through the database they already use.

    store = open_store(url); await store.open(); await store.migrate()
    await create_budget(store, "research-per-user", "feature=research user_id=*", limit="5", window="day")
    for use in await budget_usage(store): print(use.budget.name, use.spent, use.share)
    await delete_budget(store, "research-per-user")

One job per module: `_model` (a budget and its validation), `_windows` (calendar windows), `_store`
(its rows, in tables that `store/_budgets_schema.py` creates with the rest of the schema, version 4),
`_api` (create, list, delete), `_match` (which budgets a request falls under), `_ledger` (the replica's
tallies), `_sync` (their exchange with the database), `_local` (the state file), `_enforcer` (`Budgets`:
the decision and the spend), `_usage` and `_render` (what `list` shows), `_metrics` (OTel gauges), `_cli`
(`majordomo budgets`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import add_budget, create_budget, delete_budget, list_budgets
    from ._enforcer import NO_BUDGETS, Budgets, NoBudgets, Refusal
    from ._model import EACH, Budget, BudgetError, Condition, Mode, parse_scope
    from ._usage import BudgetUsage, ValueUsage, budget_usage
    from ._windows import Period, Window, period_at

# Imported on first use: `majordomo --help` reads the CLI's parser from here without the store behind it.
_FROM: dict[str, str] = {
    **dict.fromkeys(("add_budget", "create_budget", "delete_budget", "list_budgets"), "_api"),
    **dict.fromkeys(("NO_BUDGETS", "Budgets", "NoBudgets", "Refusal"), "_enforcer"),
    **dict.fromkeys(("EACH", "Budget", "BudgetError", "Condition", "Mode", "parse_scope"), "_model"),
    **dict.fromkeys(("BudgetUsage", "ValueUsage", "budget_usage"), "_usage"),
    **dict.fromkeys(("Period", "Window", "period_at"), "_windows"),
}
__all__ = [
    "EACH",
    "NO_BUDGETS",
    "Budget",
    "BudgetError",
    "BudgetUsage",
    "Budgets",
    "Condition",
    "Mode",
    "NoBudgets",
    "Period",
    "Refusal",
    "ValueUsage",
    "Window",
    "add_budget",
    "budget_usage",
    "create_budget",
    "delete_budget",
    "list_budgets",
    "parse_scope",
    "period_at",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
