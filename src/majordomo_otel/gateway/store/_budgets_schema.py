"""Schema version 4: budgets, their spend per window, and each replica's last flush.

* `majordomo_budgets`: one row per budget. `scope` is canonical JSON (`{"feature":"research","user_id":"*"}`),
  so one scope has one spelling and the unique index refuses a second budget for the same scope and window.
* `majordomo_budget_spend`: the spend of one budget in one window for one scope value (`subject`: `''`
  for a budget without `*`, else the JSON array of the `*` values), in picoUSD (USD x 10^12: exact, the same
  12 decimals as `llm_requests`' costs). Replicas add to it; `updated_at` lets them read only what changed.
* `majordomo_budget_replicas`: the number of each replica's last applied flush. A flush carries the next
  number and applies only if it is larger, in the same statement, so a flush retried after a lost reply (or
  after a restart, from the state file) is never counted twice. On SQLite the flush is the `batch` column
  and triggers apply it, since SQLite has no data-modifying CTE.
"""

from __future__ import annotations

from typing import Final

BUDGETS: Final = "majordomo_budgets"
SPEND: Final = "majordomo_budget_spend"
REPLICAS: Final = "majordomo_budget_replicas"

# SQLite: the batch a replica row carries is [[budget_id, period_start, subject, picousd], ...].
_APPLY = f"""INSERT INTO {SPEND} (budget_id, period_start, subject, spend_picousd, updated_at)
    SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, NEW.flushed_at
    FROM json_each(NEW.batch) AS j WHERE j.value->>0 IN (SELECT id FROM {BUDGETS})
    ON CONFLICT (budget_id, period_start, subject)
    DO UPDATE SET spend_picousd = spend_picousd + excluded.spend_picousd, updated_at = excluded.updated_at;
    UPDATE {REPLICAS} SET batch = '[]' WHERE replica = NEW.replica;"""


def budgets_tables(dialect: str) -> list[str]:
    pg = dialect == "postgresql"
    ts = "TIMESTAMPTZ" if pg else "TEXT"
    batch = (
        "" if pg else ",\n    -- the flush being applied (by the triggers below)\n    batch TEXT NOT NULL DEFAULT '[]'"
    )
    stmts = [
        f"""-- Spend limits (`majordomo budgets`); enforced by every gateway replica.
CREATE TABLE IF NOT EXISTS {BUDGETS} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- canonical JSON object of the scope's conditions; "*" means each distinct value separately
    scope TEXT NOT NULL,
    -- USD, more than 0
    limit_usd {"NUMERIC(20,12)" if pg else "TEXT"} NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
    -- IANA time zone the window's days start in
    timezone TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('block', 'warn')),
    created_at {ts} NOT NULL
)""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {BUDGETS}_scope_idx ON {BUDGETS} (scope, period, timezone)",
        f"""-- A budget's spend in one window, per scope value, summed over replicas.
CREATE TABLE IF NOT EXISTS {SPEND} (
    budget_id TEXT NOT NULL{f" REFERENCES {BUDGETS} (id) ON DELETE CASCADE" if pg else ""},
    -- the window's local start date (YYYY-MM-DD) in the budget's time zone
    period_start TEXT NOT NULL,
    -- '' for a budget without "*", else the JSON array of the "*" conditions' values
    subject TEXT NOT NULL,
    -- USD x 10^12
    spend_picousd {"NUMERIC(38,0)" if pg else "INTEGER"} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (budget_id, period_start, subject)
)""",
        f"CREATE INDEX IF NOT EXISTS {SPEND}_updated_at_idx ON {SPEND} (updated_at)",
        f"""-- The last flush each gateway replica applied to {SPEND}, so no flush counts twice.
CREATE TABLE IF NOT EXISTS {REPLICAS} (
    replica TEXT PRIMARY KEY,
    last_flush BIGINT NOT NULL,
    flushed_at {ts} NOT NULL{batch}
)""",
    ]
    if not pg:
        stmts += [
            f"CREATE TRIGGER IF NOT EXISTS {REPLICAS}_insert AFTER INSERT ON {REPLICAS} BEGIN {_APPLY} END",
            f"CREATE TRIGGER IF NOT EXISTS {REPLICAS}_update AFTER UPDATE OF last_flush ON {REPLICAS} "
            f"BEGIN {_APPLY} END",
            f"CREATE TRIGGER IF NOT EXISTS {BUDGETS}_delete AFTER DELETE ON {BUDGETS} "
            f"BEGIN DELETE FROM {SPEND} WHERE budget_id = OLD.id; END",
        ]
    return stmts
