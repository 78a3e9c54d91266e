"""The replica's state file (`budgets-state.json` in its spool folder): what a restart takes over from it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from majordomo_otel._tasks import stop_task
from majordomo_otel.gateway.budgets import Budgets, budget_usage, create_budget
from majordomo_otel.gateway.budgets._local import FILE_NAME
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store import Store, open_store

COST = Decimal("0.0003")


def priced(feature: str = "research") -> RequestRecord:
    record = RequestRecord(
        id="r",
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=datetime.now(UTC),
        total_cost=COST,
    )
    record.raw_metadata = {"Feature": feature}
    return record


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    await opened.open()
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


async def gateway_process(store: Store, spool: Path) -> Budgets:
    """What a gateway process holds: its own `Budgets`, started from the spool folder's state file."""
    budgets = Budgets(store, interval=3600, state_dir=spool)
    await budgets.start()
    return budgets


async def killed(budgets: Budgets) -> None:
    """As `kill -9` leaves it: the task stops, nothing is flushed or saved."""
    assert budgets._task is not None
    await stop_task(budgets._task)


async def test_a_stale_state_file_never_makes_a_later_flush_count_as_done(store: Store, tmp_path: Path) -> None:
    await create_budget(store, "research", "feature=research", limit="5", window="day")
    first = await gateway_process(store, tmp_path)
    first.spend(priced())
    await first.close()  # flushed; the file keeps the budgets and totals for a restart while the database is away
    second = await gateway_process(store, tmp_path)
    for _ in range(2):
        second.spend(priced())
    await second.sync()
    await killed(second)  # the file is still the one the first process left
    third = await gateway_process(store, tmp_path)
    third.spend(priced())
    await third.close()
    [use] = await budget_usage(store)
    assert use.spent == 4 * COST


async def test_an_unreadable_state_file_is_set_aside_not_trusted(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_text('{"format": 1, "flushes": [')  # cut short by a full disk
    with caplog.at_level(logging.ERROR, logger="majordomo_otel.gateway"):
        budgets = await gateway_process(store, tmp_path)
    await budgets.close()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [f"budgets: {tmp_path / FILE_NAME} is unreadable"]
    names = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.glob("budgets-state.*")))
    assert names == ["budgets-state.json", "budgets-state.unreadable"]
