"""What one replica knows about spend, in memory: the decision reads only this, never the database.

Per budget, the current window and a `Tally` per scope value: `known`, the total of every replica as last
read from the database (this replica's flushed increments included), and `unflushed`, this replica's
increments since. The window's spend is their sum. Increments wait in `pending` until the sync task takes
them as one numbered flush (`inflight`), which stays until the database confirms it, however long that takes:
a database that is away only delays them.

Memory is bounded: at most `MAX_VALUES` tallies per budget window (a `user_id=*` budget holds one per user).
Beyond it a `block` budget refuses requests of a value it cannot track, a `warn` budget stops counting new values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ._match import Matcher
from ._model import Budget
from ._windows import Period, period_at

MAX_VALUES: Final = 100_000
Key = tuple[str, str, str]  # budget id, window key, subject


class Tally:
    __slots__ = ("known", "noted", "unflushed")

    def __init__(self, known: int = 0) -> None:
        self.known = known
        self.unflushed = 0
        self.noted = False  # the crossing of the limit was logged (once per window, per replica)

    @property
    def spent(self) -> int:
        return self.known + self.unflushed


class BudgetState:
    """One budget's current window and its tallies (picoUSD)."""

    __slots__ = ("budget", "limit", "loaded_at", "period", "tallies")

    def __init__(self, budget: Budget, now: float) -> None:
        self.budget = budget
        self.limit = budget.limit_pico
        self.period: Period = period_at(budget.window, budget.timezone, now)
        self.tallies: dict[str, Tally] = {}
        self.loaded_at: float | None = None  # when the database's totals for this window were last read whole

    def roll(self, now: float) -> None:
        """Move to the window containing `now` once the current one is over: spend starts again at 0."""
        if not self.period.start <= now < self.period.end:
            self.period = period_at(self.budget.window, self.budget.timezone, now)
            self.tallies = {}
            self.loaded_at = None

    def tally(self, subject: str) -> Tally | None:
        """The subject's tally, made if there is room."""
        tally = self.tallies.get(subject)
        if tally is None and len(self.tallies) < MAX_VALUES:
            tally = self.tallies[subject] = Tally()
        return tally

    def load(self, totals: Mapping[str, int], *, complete: bool) -> None:
        """The database's totals for this window (`complete`: every subject it has, so the others are at 0)."""
        for subject, known in totals.items():
            if (tally := self.tally(subject)) is not None:
                tally.known = known
        if complete:
            for subject, tally in self.tallies.items():
                if subject not in totals:
                    tally.known = 0


@dataclass
class Flush:
    """Increments sent as one: applied once per (replica, number), however often it is retried."""

    replica: str
    number: int
    deltas: dict[Key, int]


@dataclass
class Ledger:
    """Budgets, their tallies and the increments not yet in the database, for one replica.

    Every process is a new replica (a fresh id, numbers from 1), so no number is ever used twice: flushes a
    previous process left unsent (`carried`, from the state file) keep that process's id and numbers.
    """

    replica: str = field(default_factory=lambda: uuid.uuid4().hex)
    next_number: int = 1
    states: dict[str, BudgetState] = field(default_factory=dict)
    key_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    matcher: Matcher[BudgetState] | None = None  # None when there is no budget: nothing to do per request
    pending: dict[Key, int] = field(default_factory=dict)
    inflight: Flush | None = None
    carried: list[Flush] = field(default_factory=list)
    charges: int = 0  # increments made so far: the state file is rewritten only when this moved

    def install(self, budgets: Iterable[Budget], key_ids: Mapping[str, frozenset[str]], now: float) -> bool:
        """Replace the budgets (keeping the tallies of those unchanged); False if nothing changed."""
        budgets = list(budgets)
        if [s.budget for s in self.states.values()] == budgets and key_ids == self.key_ids:
            return False
        states = {}
        for budget in budgets:
            state = self.states.get(budget.id)
            states[budget.id] = state if state is not None and state.budget == budget else BudgetState(budget, now)
        self.states, self.key_ids = states, key_ids
        self.matcher = Matcher([(s.budget, s) for s in states.values()], key_ids) if states else None
        return True

    def charge(self, state: BudgetState, subject: str, pico: int, tally: Tally | None) -> None:
        key = (state.budget.id, state.period.key, subject)
        self.pending[key] = self.pending.get(key, 0) + pico
        self.charges += 1
        if tally is not None:
            tally.unflushed += pico

    def take_flush(self) -> Flush | None:
        """The flush to send: a carried one, else the one not yet confirmed, else the pending increments
        under the next number."""
        if self.carried:
            return self.carried[0]
        if self.inflight is None and self.pending:
            self.inflight = Flush(self.replica, self.next_number, self.pending)
            self.next_number += 1
            self.pending = {}
        return self.inflight

    def unsent(self) -> list[Flush]:
        """Every increment the database may not have, as flushes (the pending ones under the next number)."""
        flushes = [*self.carried, *([self.inflight] if self.inflight is not None else [])]
        if self.pending:
            flushes.append(Flush(self.replica, self.next_number, dict(self.pending)))
        return flushes

    def settle(self, flush: Flush) -> None:
        """The database has `flush`: its increments move from `unflushed` to `known` (once)."""
        if any(f is flush for f in self.carried):
            self.carried = [f for f in self.carried if f is not flush]
        elif self.inflight is flush:
            self.inflight = None
        else:
            return
        for (budget_id, window, subject), pico in flush.deltas.items():
            state = self.states.get(budget_id)
            if state is None or state.period.key != window:
                continue
            if (tally := state.tallies.get(subject)) is not None:
                tally.unflushed -= pico
                tally.known += pico

    def set_known(self, budget_id: str, window: str, subject: str, known: int) -> None:
        state = self.states.get(budget_id)
        if state is not None and state.period.key == window and (tally := state.tally(subject)) is not None:
            tally.known = known

    @property
    def unflushed(self) -> int:
        """How many increments the database does not have yet."""
        return sum(len(f.deltas) for f in self.unsent())
