"""The replica's budget state on its own disk (`budgets-state.json` in its spool folder).

Written when increments could not reach the database (at each sync while it is away) and at shutdown;
read at the next start. It holds the increments the database may not have yet, as numbered flushes under
the replica that made them (so one retried after the restart still counts once), and the last known
budgets and totals, so a gateway restarted while the database is away still decides from them. Written whole to a
temporary file, fsynced and renamed over the old one: a crash leaves the old file or the new, never half.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Final

from ._ledger import Flush, Ledger
from ._store import budget_from_row, budget_row, deltas_from_json, deltas_to_json

log = logging.getLogger("majordomo_otel.gateway")

FILE_NAME: Final = "budgets-state.json"
_FORMAT: Final = 1


def _path(directory: Path) -> Path:
    return directory / FILE_NAME


def save(directory: Path, ledger: Ledger) -> None:
    data: dict[str, Any] = {
        "format": _FORMAT,
        "flushes": [
            {"replica": f.replica, "number": f.number, "deltas": deltas_to_json(f.deltas)} for f in ledger.unsent()
        ],
        "budgets": [budget_row(s.budget) for s in ledger.states.values()],
        "key_ids": {name: sorted(ids) for name, ids in ledger.key_ids.items()},
        "known": [
            [state.budget.id, state.period.key, subject, tally.known]
            for state in ledger.states.values()
            for subject, tally in list(state.tallies.items())
        ],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = _path(directory)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def restore(directory: Path, ledger: Ledger, now: float) -> bool:
    """Take over the saved state, if any: its flushes are sent first, under their own replica and number;
    its budgets and totals are the last known ones until the database answers. A file that cannot be read
    is set aside (and logged), not trusted."""
    path = _path(directory)
    try:
        data = json.loads(path.read_text())
        if data.get("format") != _FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        flushes = [Flush(str(f["replica"]), int(f["number"]), deltas_from_json(f["deltas"])) for f in data["flushes"]]
        budgets = [budget_from_row(row) for row in data["budgets"]]
        key_ids = {name: frozenset(ids) for name, ids in data["key_ids"].items()}
        known = [(str(b), str(k), str(s), int(v)) for b, k, s, v in data["known"]]
    except FileNotFoundError:
        return False
    except Exception as exc:
        aside = path.with_suffix(".unreadable")
        os.replace(path, aside)
        log.error("budgets: %s is unreadable (%s); set aside as %s, starting without it", path, exc, aside.name)
        return False
    ledger.carried = flushes
    ledger.install(budgets, key_ids, now)
    for budget_id, window, subject, value in known:
        ledger.set_known(budget_id, window, subject, value)
    for flush in flushes:
        for (budget_id, window, subject), pico in flush.deltas.items():
            state = ledger.states.get(budget_id)
            if state is not None and state.period.key == window and (tally := state.tally(subject)) is not None:
                tally.unflushed += pico
    return True


def clear(directory: Path) -> None:
    _path(directory).unlink(missing_ok=True)
