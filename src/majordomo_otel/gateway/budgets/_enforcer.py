"""`Budgets`: the gateway's decision before a request goes upstream, and its spend once the record is final.

Both run on every request, from memory only (`_ledger.py`); a background task exchanges increments and
totals with the database every `interval` seconds (`_sync.py`). With no budget defined, each costs one
attribute test. While the database is away, decisions continue from the last known totals plus this
replica's own increments, which wait (in memory, and in the state file beside the spool) until it is back.

Worst-case overshoot of a `block` budget of limit L (README "Budgets"; the tests measure it): a request is
admitted while its replica's view is below L, and that view lacks (a) the requests in flight, whose cost is
known only when they end, and (b) what the other replicas spent since their last flush reached this one:
at most two sync periods (one until they flush, one until this replica reads it), a period being the
interval plus the time a sync takes (`slowest_recent_sync_ms` on /readyz). So the window's spend stays below

    L + c_max x F + 2 x (interval + sync) x R_others

with c_max the costliest request, F the requests in flight at once across all replicas (the last one admitted
included) and R_others the spend rate (USD/s) the other replicas put on the budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from majordomo_otel._money import to_pico
from majordomo_otel._tasks import stop_task
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store import Store

from . import _local
from ._ledger import MAX_VALUES, BudgetState, Ledger, Tally
from ._match import subject_values
from ._model import Mode, usd
from ._sync import Sync

log = logging.getLogger("majordomo_otel.gateway")

#: Longest a sync may take before it is abandoned (and retried); a flush cut short is retried under its number.
SYNC_TIMEOUT = 30.0
#: Longest a start waits for the first sync: a database that is away must not hold the gateway back.
START_TIMEOUT = 2.0
#: SDKs (openai, anthropic) retry a 429 after `Retry-After` if it is at most this long, else at once.
_SDK_RETRY_HORIZON = 60
_RECENT_SYNCS = 100
_MAX_IN_FLIGHT = 100_000  # bound on requests checked and not yet spent (each is a few pointers)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request a `block` budget refuses: the message (naming the budget) and seconds until it resets."""

    message: str
    retry_after: int

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Retry-After": str(self.retry_after)}
        if self.retry_after > _SDK_RETRY_HORIZON:  # retrying within the SDK's backoff cannot succeed
            headers["x-should-retry"] = "false"
        return headers


def _label(state: BudgetState, subject: str) -> str:
    name = f"budget {state.budget.name!r}"
    if not subject:
        return name
    values = [v if v.isprintable() else repr(v) for v in subject_values(subject)]  # no CR/LF into a log line
    return f"{name} ({' '.join(f'{c.name}={v}' for c, v in zip(state.budget.each, values, strict=True))})"


def _spent(state: BudgetState, tally: Tally | None) -> str:
    spent = tally.spent if tally is not None else 0
    budget = state.budget
    return f"${usd(spent)} of ${usd(budget.limit)} this {budget.window.value} ({budget.timezone})"


class Budgets:
    def __init__(
        self,
        store: Store,
        *,
        interval: float = 1.0,
        state_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"budget refresh interval must be more than 0 seconds, got {interval!r}")
        self.interval = interval
        #: epoch seconds; windows and rollover follow it (tests set it to move time)
        self.clock = clock
        self.ledger = Ledger()
        self._sync = Sync(store, self.ledger, lambda: self.clock())
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._task: asyncio.Task[None] | None = None
        self._healthy = True
        self._saved_unflushed = False  # the state file holds increments the database may not have
        self._saved_at = -1  # `ledger.charges` when the state file was last written
        self._durations: deque[float] = deque(maxlen=_RECENT_SYNCS)
        self._matched: dict[str, list[tuple[BudgetState, str]]] = {}  # by request id, from check to spend

    # --- every request ----------------------------------------------------------------------------
    def check(self, record: RequestRecord) -> Refusal | None:
        """Before the request goes upstream: a `Refusal` if a `block` budget is used up (the record then
        says 429 and which budget), else None; `warn` budgets over their limit add a note to the record."""
        matcher = self.ledger.matcher
        if matcher is None:
            return None
        matches = matcher.match(record)
        if len(self._matched) >= _MAX_IN_FLIGHT:  # never in practice: spend takes each one back
            self._matched.clear()
        self._matched[record.id] = matches  # what spend charges, without matching again
        if not matches:
            return None
        now = self.clock()
        refused: list[str] = []
        retry_after = 0
        for state, subject in matches:
            state.roll(now)
            tally = state.tallies.get(subject)
            block = state.budget.mode is Mode.BLOCK
            if tally is None and block and len(state.tallies) >= MAX_VALUES:
                refused.append(f"{_label(state, subject)} tracks {MAX_VALUES} values this window, no more")
            elif tally is not None and tally.spent >= state.limit:
                self._note_crossing(state, subject, tally)
                if not block:
                    record.add_error(f"{_label(state, subject)} over its limit (warn): {_spent(state, tally)}")
                    continue
                resets = state.period.resets_at().isoformat().replace("+00:00", "Z")
                refused.append(f"{_label(state, subject)} used up: {_spent(state, tally)}; resets {resets}")
            else:
                continue
            retry_after = max(retry_after, state.period.seconds_left(now))
        if not refused:
            return None
        message = "; ".join(refused)
        record.status_code = 429
        record.add_error(message)
        return Refusal(message, retry_after)

    def spend(self, record: RequestRecord) -> None:
        """Once the record is final: its cost counts toward every budget it falls under (the same number as
        its row's `total_cost`, to the row's 12 decimals). Unpriced records (no cost) count nothing."""
        matches = self._matched.pop(record.id, None) if self._matched else None
        if matches is None:  # not checked while budgets were in force (a 413, or budgets that came meanwhile)
            matcher = self.ledger.matcher
            if matcher is None or record.total_cost is None:
                return
            matches = matcher.match(record)
        if not matches or record.total_cost is None:
            return
        pico = to_pico(record.total_cost)
        if pico <= 0:
            return
        now = self.clock()
        for state, subject in matches:
            state.roll(now)
            tally = state.tally(subject)
            if tally is None and state.budget.mode is Mode.WARN:
                continue  # a warn budget past MAX_VALUES stops counting new values
            self.ledger.charge(state, subject, pico, tally)
            if tally is not None and tally.spent >= state.limit:
                self._note_crossing(state, subject, tally)

    def _note_crossing(self, state: BudgetState, subject: str, tally: Tally) -> None:
        if not tally.noted:
            tally.noted = True
            log.warning(
                "%s reached its limit (%s): %s; resets %s",
                _label(state, subject),
                state.budget.mode.value,
                _spent(state, tally),
                state.period.resets_at().isoformat(),
            )

    # --- lifecycle --------------------------------------------------------------------------------
    async def sync(self) -> None:
        """One exchange with the database now (the background task does this every interval)."""
        started = time.monotonic()
        async with asyncio.timeout(SYNC_TIMEOUT):
            await self._sync.once()
        self._durations.append(time.monotonic() - started)

    def stats(self) -> dict[str, object]:
        """For /readyz: counts and timings only, never a budget's values."""
        return {
            "in_force": len(self.ledger.states),
            "database_ok": self._healthy,
            "unflushed": self.ledger.unflushed,
            # the overshoot bound's "sync" term (README): how long this replica's recent syncs took at most
            "slowest_recent_sync_ms": round(max(self._durations, default=0.0) * 1000, 1),
        }

    async def start(self) -> None:
        """Take over the saved state, sync once (briefly: the database may be away), then every interval."""
        if self._state_dir is not None and _local.restore(self._state_dir, self.ledger, self.clock()):
            self._saved_unflushed = bool(self.ledger.unflushed)
            log.info("budgets: resumed from %s", self._state_dir / _local.FILE_NAME)
        first = asyncio.ensure_future(self._cycle())
        await asyncio.wait({first}, timeout=START_TIMEOUT)
        self._task = asyncio.get_running_loop().create_task(self._loop(first), name="majordomo-budgets")

    async def _loop(self, first: asyncio.Future[None]) -> None:
        await first
        while True:
            await asyncio.sleep(self.interval)
            await self._cycle()

    async def _cycle(self) -> None:
        try:
            await self.sync()
        except Exception as exc:
            if self._healthy:
                log.warning(
                    "budgets: database unavailable (%r); deciding from the last known totals, "
                    "this replica's increments wait until it is back",
                    exc,
                )
            self._healthy = False
            self._save()
            return
        if not self._healthy:
            log.info("budgets: database reachable again; increments flushed")
        self._healthy = True
        if self._saved_unflushed and self._state_dir is not None:
            _local.clear(self._state_dir)
            self._saved_unflushed, self._saved_at = False, -1

    def _save(self) -> None:
        """While the database is away: keep what it lacks on disk, rewritten only when that grew."""
        if self._state_dir is None or not self.ledger.unflushed or self._saved_at == self.ledger.charges:
            return
        try:
            _local.save(self._state_dir, self.ledger)
            self._saved_unflushed, self._saved_at = True, self.ledger.charges
        except OSError as exc:
            log.error("budgets: cannot save state to %s (%r); increments kept in memory only", self._state_dir, exc)

    async def close(self) -> None:
        """Stop the task, flush what is left (briefly), and keep the rest, and the last totals, on disk."""
        await stop_task(self._task)
        self._task = None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self._sync.final()
        except Exception as exc:
            log.warning(
                "budgets: %d increment(s) not flushed at shutdown (%r); kept for the next start",
                self.ledger.unflushed,
                exc,
            )
        if self._state_dir is None:
            return
        try:
            _local.save(self._state_dir, self.ledger)
        except OSError as exc:
            log.error("budgets: cannot save state to %s (%r)", self._state_dir, exc)


class NoBudgets:
    """Stands in for `Budgets` where none are enforced (a `Proxy` built without them)."""

    def check(self, record: RequestRecord) -> Refusal | None:
        return None

    def spend(self, record: RequestRecord) -> None:
        pass


NO_BUDGETS: Final = NoBudgets()
