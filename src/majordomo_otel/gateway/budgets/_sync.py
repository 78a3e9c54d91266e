"""One replica's exchange with the database, every refresh interval: flush, reload, refresh.

1. **flush** this replica's increments as one numbered flush (applied at most once, see `_schema.py`);
2. **reload** the budgets (so one created or deleted with the CLI applies within an interval) and the ids
   of the keys they name;
3. **refresh** the totals: rows changed since the last refresh (`updated_at`, re-reading a few seconds
   back so that a flush committed just after its `now()` is not missed), and, for a budget that is new,
   whose window just began, or every `FULL_RELOAD` seconds, the whole window.

Each step raises on a database error; the caller keeps deciding from what the ledger holds and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from majordomo_otel.gateway.store import Store

from ._ledger import MAX_VALUES, Ledger
from ._model import KEY, Budget
from ._store import apply_flush, budget_from_row, budget_rows, changed_spend, database_now, key_ids, window_spend

log = logging.getLogger("majordomo_otel.gateway")

SLACK: Final = timedelta(seconds=5)
FULL_RELOAD: Final = 60.0


class Sync:
    def __init__(self, store: Store, ledger: Ledger, clock: Callable[[], float]) -> None:
        self.store = store
        self.ledger = ledger
        self.clock = clock
        self._since: datetime | None = None  # the newest `updated_at` read (database clock)
        self._lock = asyncio.Lock()
        self._rows: list[dict[str, Any]] | None = None  # the budget rows last read, and what they parsed to
        self._budgets: list[Budget] = []

    async def flush(self) -> None:
        """Send the increments waiting, until none is left or the database fails."""
        while (flush := self.ledger.take_flush()) is not None:
            try:
                await apply_flush(self.store, flush.replica, flush.number, flush.deltas)
            except Exception as exc:
                if not self.store.is_permanent_error(exc):
                    raise
                # Never true of well-formed increments; dropping one flush beats blocking every later one.
                # Their records are in llm_requests all the same.
                log.error("budgets: the database refuses flush %d (%r); dropped", flush.number, exc)
            self.ledger.settle(flush)

    async def reload(self) -> None:
        rows = await budget_rows(self.store)
        if rows != self._rows:  # parsed (and validated) again only when a budget was created or deleted
            self._budgets, self._rows = [budget_from_row(r) for r in rows], rows
        budgets = self._budgets
        names = {c.value for b in budgets for c in b.scope if c.name == KEY and c.value is not None}
        ids = await key_ids(self.store, names) if names else {}
        if self.ledger.install(budgets, ids, self.clock()):
            log.info("budgets: %d in force", len(budgets))

    async def refresh(self) -> None:
        if self._since is None:
            self._since = await database_now(self.store)
        now = self.clock()
        for state in list(self.ledger.states.values()):
            state.roll(now)
            if state.loaded_at is None or now - state.loaded_at >= FULL_RELOAD:
                window = state.period.key
                totals = await window_spend(self.store, state.budget.id, window, limit=MAX_VALUES)
                if state.period.key == window:  # not rolled over meanwhile
                    state.load(totals, complete=len(totals) < MAX_VALUES)
                    state.loaded_at = now
        for budget_id, window, subject, known, updated_at in await changed_spend(self.store, self._since - SLACK):
            self.ledger.set_known(budget_id, window, subject, known)
            self._since = max(self._since, updated_at)

    async def final(self) -> None:
        """The last flush, at shutdown."""
        async with self._lock:
            await self.flush()

    async def once(self) -> None:
        async with self._lock:  # the background task and an explicit `Budgets.sync()` take turns
            await self.flush()
            await self.reload()
            await self.refresh()
