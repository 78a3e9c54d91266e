"""Budgets from Python, for tests and scripts: create, list, delete (the CLI calls the same functions).

Each takes an open, migrated store; bad input raises `BudgetError` with nothing written.
"""

from __future__ import annotations

from decimal import Decimal

from majordomo_otel.gateway.store import Store

from ._model import KEY, Budget, BudgetError, Mode
from ._store import delete_budget as _delete
from ._store import insert_budget, key_ids, read_budgets
from ._windows import Window


async def create_budget(
    store: Store,
    name: str,
    scope: str | list[str] | dict[str, str],
    *,
    limit: str | int | float | Decimal,
    window: str | Window,
    timezone: str | None = None,
    mode: str | Mode = Mode.BLOCK,
) -> Budget:
    """Validate and store a budget (`BudgetError` for bad input, with nothing written). Gateways apply it
    within their refresh interval."""
    return await add_budget(store, Budget.new(name, scope, limit=limit, window=window, timezone=timezone, mode=mode))


async def add_budget(store: Store, budget: Budget) -> Budget:
    """Store a validated budget (`Budget.new`); `BudgetError` if its name is taken, its scope and window are
    another budget's, or a `key=NAME` condition names no key."""
    named = [c.value for c in budget.scope if c.name == KEY and c.value is not None]
    if named and not (await key_ids(store, named)):
        raise BudgetError(f"no Majordomo key is named {named[0]!r} (`majordomo keys list`)")
    await insert_budget(store, budget)
    return budget


async def list_budgets(store: Store) -> list[Budget]:
    return await read_budgets(store)


async def delete_budget(store: Store, name: str) -> Budget:
    """Delete a budget and its spend; `BudgetError` if there is none of that name."""
    deleted = await _delete(store, name)
    if deleted is None:
        raise BudgetError(f"no budget named {name!r} (`majordomo budgets list`)")
    return deleted
