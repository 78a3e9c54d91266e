"""Budgets and their spend in each store: whole rows or none, flushes counted once."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from majordomo_otel.gateway.budgets import (
    BudgetError,
    create_budget,
    delete_budget,
    list_budgets,
    period_at,
)
from majordomo_otel.gateway.budgets._store import apply_flush, window_spend
from majordomo_otel.gateway.keys import create_key
from majordomo_otel.gateway.store import Store
from majordomo_otel.gateway.store._budgets_schema import SPEND


async def test_a_created_budget_reads_back_whole(store: Store) -> None:
    created = await create_budget(
        store, "paris-ops", "feature=ops user_id=*", limit="12.5", window="week", timezone="Europe/Paris", mode="warn"
    )
    assert await list_budgets(store) == [created]


async def test_a_taken_name_is_refused_and_nothing_is_written(store: Store) -> None:
    first = await create_budget(store, "research", "feature=research", limit="5", window="day")
    with pytest.raises(BudgetError, match=r"^a budget named 'research' already exists"):
        await create_budget(store, "research", "feature=other", limit="1", window="day")
    assert await list_budgets(store) == [first]


async def test_a_second_budget_for_the_same_scope_and_window_is_refused(store: Store) -> None:
    first = await create_budget(store, "per-user", "feature=research user_id=*", limit="5", window="day")
    with pytest.raises(BudgetError) as caught:
        await create_budget(store, "again", ["user_id=*", "feature=research"], limit="9", window="day")
    assert (str(caught.value), await list_budgets(store)) == (
        "budget 'per-user' already limits feature=research user_id=* per day (UTC); delete it first to change its "
        "limit or mode",
        [first],
    )


async def test_a_key_condition_must_name_a_key(store: Store) -> None:
    with pytest.raises(BudgetError, match=r"^no Majordomo key is named 'ci-bot' \(`majordomo keys list`\)$"):
        await create_budget(store, "bot", "key=ci-bot", limit="1", window="day")
    await create_key(store, "ci-bot")
    assert [b.name for b in [await create_budget(store, "bot", "key=ci-bot", limit="1", window="day")]] == ["bot"]
    assert [b.name for b in await list_budgets(store)] == ["bot"]


async def test_deleting_a_budget_takes_its_spend_with_it(store: Store) -> None:
    budget = await create_budget(store, "research", "feature=research", limit="5", window="day")
    window = period_at(budget.window, budget.timezone, time.time()).key
    await apply_flush(store, "replica-a", 1, {(budget.id, window, ""): 10**12})
    assert await delete_budget(store, "research") == budget
    assert (await list_budgets(store), await store.query(f"SELECT * FROM {SPEND}")) == ([], [])


async def test_deleting_a_budget_that_does_not_exist_says_so(store: Store) -> None:
    with pytest.raises(BudgetError, match=r"^no budget named 'nope' \(`majordomo budgets list`\)$"):
        await delete_budget(store, "nope")


async def test_a_flush_retried_under_its_number_counts_once(store: Store) -> None:
    budget = await create_budget(store, "per-user", "user_id=*", limit="5", window="day")
    window = period_at(budget.window, budget.timezone, time.time()).key
    flush = {(budget.id, window, '["u-1"]'): 3 * 10**11, (budget.id, window, '["u-2"]'): 7}
    applied = [await apply_flush(store, "replica-a", 1, flush), await apply_flush(store, "replica-a", 1, flush)]
    applied.append(await apply_flush(store, "replica-a", 2, {(budget.id, window, '["u-1"]'): 1}))
    applied.append(await apply_flush(store, "replica-b", 1, {(budget.id, window, '["u-1"]'): 1}))
    assert (applied, await window_spend(store, budget.id, window)) == (
        [True, False, True, True],
        {'["u-1"]': 3 * 10**11 + 2, '["u-2"]': 7},
    )


async def test_a_flush_drops_the_increments_of_a_deleted_budget(store: Store) -> None:
    kept = await create_budget(store, "kept", "feature=a", limit="5", window="day")
    gone = await create_budget(store, "gone", "feature=b", limit="5", window="day")
    await delete_budget(store, "gone")
    window = period_at(kept.window, kept.timezone, time.time()).key
    assert await apply_flush(store, "replica-a", 1, {(kept.id, window, ""): 5, (gone.id, window, ""): 9})
    rows = await store.query(f"SELECT budget_id, spend_picousd FROM {SPEND}")
    assert [(r["budget_id"], Decimal(r["spend_picousd"])) for r in rows] == [(kept.id, 5)]
