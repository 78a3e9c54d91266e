"""Budget rows in the database, through the store's generic `query` (asyncpg `fetch`, SQLite autocommit).

Every write is one statement, so nothing is ever half-written: a budget is inserted whole or not at all, a
delete takes its spend rows with it (a foreign key on PostgreSQL, a trigger on SQLite), and a flush adds
all its increments and records its number at once (see `_schema.py`). Placeholders and timestamps follow
the store's dialect (`$1` and TIMESTAMPTZ on PostgreSQL, `?` and fixed-width UTC text on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from majordomo_otel.gateway.store import Store
from majordomo_otel.gateway.store._budgets_schema import BUDGETS, REPLICAS, SPEND
from majordomo_otel.gateway.store._codec import as_utc, parse_utc, utc_text

from ._model import Budget, BudgetError, parse_limit, parse_mode, parse_scope, parse_window

#: (budget id, window key, subject) → picoUSD
Deltas = Mapping[tuple[str, str, str], int]

_BUDGET_COLUMNS = "id, name, scope, limit_usd, period, timezone, mode, created_at"

_FLUSH_PG = f"""WITH claimed AS (
    INSERT INTO {REPLICAS} AS r (replica, last_flush, flushed_at) VALUES ($1, $2, now())
    ON CONFLICT (replica) DO UPDATE SET last_flush = excluded.last_flush, flushed_at = excluded.flushed_at
    WHERE r.last_flush < excluded.last_flush
    RETURNING 1
), applied AS (
    INSERT INTO {SPEND} AS s (budget_id, period_start, subject, spend_picousd, updated_at)
    SELECT d.v->>0, d.v->>1, d.v->>2, (d.v->>3)::numeric, now()
    FROM claimed CROSS JOIN jsonb_array_elements($3::jsonb) AS d(v)
    WHERE d.v->>0 IN (SELECT id FROM {BUDGETS})
    ON CONFLICT (budget_id, period_start, subject)
    DO UPDATE SET spend_picousd = s.spend_picousd + excluded.spend_picousd, updated_at = excluded.updated_at
    RETURNING 1
)
SELECT (SELECT count(*) FROM claimed) AS claimed"""
_FLUSH_SQLITE = f"""INSERT INTO {REPLICAS} (replica, last_flush, flushed_at, batch) VALUES (?, ?, ?, ?)
ON CONFLICT (replica) DO UPDATE SET last_flush = excluded.last_flush, flushed_at = excluded.flushed_at,
    batch = excluded.batch
WHERE excluded.last_flush > {REPLICAS}.last_flush"""


class _Params:
    """Bind values, each placeholder spelled in the store's dialect, timestamps encoded as it keeps them."""

    def __init__(self, store: Store) -> None:
        self.sqlite = store.dialect == "sqlite"
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        if isinstance(value, datetime):
            value = utc_text(value) if self.sqlite else as_utc(value)
        elif isinstance(value, Decimal) and self.sqlite:
            value = str(value)
        self.values.append(value)
        return "?" if self.sqlite else f"${len(self.values)}"


def _time(value: Any) -> datetime:
    return parse_utc(value) if isinstance(value, str) else as_utc(value)


def scope_json(budget: Budget) -> str:
    """The canonical spelling of a scope: what the unique index compares."""
    return json.dumps(budget.scope_mapping(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def budget_from_row(row: Mapping[str, Any]) -> Budget:
    return Budget(
        id=row["id"],
        name=row["name"],
        scope=parse_scope(json.loads(row["scope"])),
        limit=parse_limit(row["limit_usd"]),
        window=parse_window(row["period"]),
        timezone=row["timezone"],
        mode=parse_mode(row["mode"]),
        created_at=_time(row["created_at"]),
    )


def budget_row(budget: Budget) -> dict[str, Any]:
    """The row as JSON-ready values (what the local state file keeps); `budget_from_row` reads it back."""
    return {
        "id": budget.id,
        "name": budget.name,
        "scope": scope_json(budget),
        "limit_usd": str(budget.limit),
        "period": budget.window.value,
        "timezone": budget.timezone,
        "mode": budget.mode.value,
        "created_at": utc_text(budget.created_at),
    }


async def budget_rows(store: Store) -> list[dict[str, Any]]:
    return await store.query(f"SELECT {_BUDGET_COLUMNS} FROM {BUDGETS} ORDER BY name")


async def read_budgets(store: Store) -> list[Budget]:
    return [budget_from_row(r) for r in await budget_rows(store)]


async def insert_budget(store: Store, budget: Budget) -> None:
    """Insert, or raise `BudgetError` (nothing written) for a taken name or a scope and window already covered."""
    scope = scope_json(budget)
    p = _Params(store)
    clash = await store.query(
        f"SELECT name FROM {BUDGETS} WHERE name = {p(budget.name)} "
        f"OR (scope = {p(scope)} AND period = {p(budget.window.value)} AND timezone = {p(budget.timezone)})",
        p.values,
    )
    for row in clash:
        if row["name"] == budget.name:
            raise BudgetError(f"a budget named {budget.name!r} already exists (`majordomo budgets list`)")
        raise BudgetError(
            f"budget {row['name']!r} already limits {budget.scope_text()} per {budget.window.value} "
            f"({budget.timezone}); delete it first to change its limit or mode"
        )
    p = _Params(store)
    values = (
        budget.id,
        budget.name,
        scope,
        budget.limit,
        budget.window.value,
        budget.timezone,
        budget.mode.value,
        budget.created_at,
    )
    marks = ", ".join(p(v) for v in values)
    try:
        await store.query(f"INSERT INTO {BUDGETS} ({_BUDGET_COLUMNS}) VALUES ({marks})", p.values)
    except Exception as exc:
        if type(exc).__name__ in ("UniqueViolationError", "IntegrityError"):  # created meanwhile, elsewhere
            raise BudgetError(f"a budget named {budget.name!r} or with this scope and window already exists") from None
        raise


async def delete_budget(store: Store, name: str) -> Budget | None:
    """Delete a budget and its spend rows (one statement); None if there is no budget of that name."""
    p = _Params(store)
    rows = await store.query(f"DELETE FROM {BUDGETS} WHERE name = {p(name)} RETURNING {_BUDGET_COLUMNS}", p.values)
    return budget_from_row(rows[0]) if rows else None


async def key_ids(store: Store, names: Iterable[str]) -> dict[str, frozenset[str]]:
    """Majordomo key ids by key name (a name may have several keys: rotated ones)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    p = _Params(store)
    marks = ", ".join(p(n) for n in wanted)
    rows = await store.query(f"SELECT id, name FROM majordomo_api_keys WHERE name IN ({marks})", p.values)
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["name"], set()).add(row["id"])
    return {name: frozenset(ids) for name, ids in found.items()}


async def key_names(store: Store) -> dict[str, str]:
    """Every key's name by id, to show `key=*` values as names."""
    return {r["id"]: r["name"] for r in await store.query("SELECT id, name FROM majordomo_api_keys")}


async def window_spend(store: Store, budget_id: str, key: str, *, limit: int | None = None) -> dict[str, int]:
    """picoUSD per subject of one budget in one window, the largest first (at most `limit` of them)."""
    p = _Params(store)
    sql = (
        f"SELECT subject, spend_picousd FROM {SPEND} WHERE budget_id = {p(budget_id)} AND period_start = {p(key)} "
        "ORDER BY spend_picousd DESC, subject"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return {r["subject"]: int(r["spend_picousd"]) for r in await store.query(sql, p.values)}


async def changed_spend(store: Store, since: datetime) -> list[tuple[str, str, str, int, datetime]]:
    """Spend rows updated after `since`: (budget id, window key, subject, picoUSD, updated_at)."""
    p = _Params(store)
    rows = await store.query(
        f"SELECT budget_id, period_start, subject, spend_picousd, updated_at FROM {SPEND} "
        f"WHERE updated_at > {p(since)}",
        p.values,
    )
    return [
        (r["budget_id"], r["period_start"], r["subject"], int(r["spend_picousd"]), _time(r["updated_at"])) for r in rows
    ]


async def database_now(store: Store) -> datetime:
    """The clock `updated_at` is written with: the server's on PostgreSQL, this process's on SQLite."""
    if store.dialect == "sqlite":
        return datetime.now(UTC)
    [row] = await store.query("SELECT now() AS now")
    return as_utc(row["now"])


async def apply_flush(store: Store, replica: str, number: int, deltas: Deltas) -> bool:
    """Add `deltas` to the spend rows, once: False when this replica's flush `number` was applied before
    (a retry whose first attempt's reply was lost). Increments of deleted budgets are dropped."""
    batch = [[b, k, s, v] for (b, k, s), v in sorted(deltas.items())]  # one lock order for every replica
    text = json.dumps(batch, separators=(",", ":"), ensure_ascii=False)
    if store.dialect == "sqlite":
        rows = await store.query(
            _FLUSH_SQLITE + " RETURNING last_flush", (replica, number, utc_text(datetime.now(UTC)), text)
        )
        return bool(rows)
    [row] = await store.query(_FLUSH_PG, (replica, number, text))
    return bool(row["claimed"])


def deltas_from_json(items: Sequence[Sequence[Any]]) -> dict[tuple[str, str, str], int]:
    return {(str(b), str(k), str(s)): int(v) for b, k, s, v in items}


def deltas_to_json(deltas: Deltas) -> list[list[Any]]:
    return [[b, k, s, v] for (b, k, s), v in deltas.items()]
