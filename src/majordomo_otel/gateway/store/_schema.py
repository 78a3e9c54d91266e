"""The `llm_requests` and `majordomo_api_keys` DDL for SQLite and PostgreSQL, generated from one column table.

One table of columns keeps both dialects and `RequestRecord` in step: an import-time check fails loudly if
the record gains a field the schema does not have.

Type choices:

* PostgreSQL: `id UUID` (ids are UUIDv7, time-ordered, so the primary key index stays append-mostly),
  `TIMESTAMPTZ`, `NUMERIC(20,12)` for USD costs (exact sums; 12 decimals is far below a token's price),
  `JSONB raw_metadata`, `BOOLEAN streamed`.
* SQLite: `TEXT` ids; timestamps as fixed-width UTC ISO-8601 text `YYYY-MM-DDTHH:MM:SS.ffffffZ` (sorts as
  time, and SQLite's date functions read it); costs as `REAL` so `SUM()`/`AVG()` are numeric (a float
  carries ~15 significant digits: exact for per-request costs, sums may differ from PostgreSQL's exact
  NUMERIC in the last digits); `raw_metadata` as JSON text; WAL journal.

Partitioning (PostgreSQL): version 2 (`_partitions.py`) partitions `llm_requests` by UTC month, `PARTITION BY
RANGE (requested_at)` with `PRIMARY KEY (id, requested_at)`, a default partition so no insert fails for a
missing month, and months created ahead; inserts stay idempotent because a record always carries the same
`(id, requested_at)` pair (`ON CONFLICT (id, requested_at)`). The columns and comments above are version
1's; version 2 keeps them. SQLite stays one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from majordomo_otel import wire
from majordomo_otel.gateway.record import COLUMNS
from majordomo_otel.gateway.store._budgets_schema import budgets_tables
from majordomo_otel.gateway.store._credentials_schema import provider_credentials_table
from majordomo_otel.gateway.store._partitions import v2 as partitioned_by_month


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pg: str
    sqlite: str
    comment: str


_TOKENS_NOTE = "NULL when the provider reported no usage."

LLM_REQUEST_COLUMNS: tuple[Column, ...] = (
    Column(
        "id",
        "UUID PRIMARY KEY",
        "TEXT PRIMARY KEY",
        f"Request id (UUIDv7), returned as {wire.REQUEST_ID}.",
    ),
    Column("provider", "TEXT NOT NULL", "TEXT NOT NULL", "openai | anthropic | gemini | gemini-openai."),
    Column("request_path", "TEXT NOT NULL", "TEXT NOT NULL", "Upstream path, without query string."),
    Column("request_method", "TEXT NOT NULL", "TEXT NOT NULL", "HTTP method."),
    Column(
        "requested_at",
        "TIMESTAMPTZ NOT NULL",
        "TEXT NOT NULL",
        "When the gateway received the request (UTC).",
    ),
    Column(
        "operation",
        "TEXT NOT NULL",
        "TEXT NOT NULL",
        "chat_completions | responses | embeddings | completions | messages | count_tokens | generate_content.",
    ),
    Column("model", "TEXT", "TEXT", "The response's model if it names one, else the request's."),
    Column("request_model", "TEXT", "TEXT", "The model the request asked for."),
    Column("responded_at", "TIMESTAMPTZ", "TEXT", "When the response (or stream) ended (UTC)."),
    Column("response_time_ms", "DOUBLE PRECISION", "REAL", "requested_at to end of response, milliseconds."),
    Column("time_to_first_token_ms", "DOUBLE PRECISION", "REAL", "Streams: time to the first body chunk."),
    Column(
        "streamed",
        "BOOLEAN NOT NULL DEFAULT FALSE",
        "INTEGER NOT NULL DEFAULT 0 CHECK (streamed IN (0, 1))",
        "True for streamed (SSE) responses.",
    ),
    Column("status_code", "INTEGER", "INTEGER", "Upstream HTTP status (or the gateway's own on failure)."),
    Column(
        "input_tokens",
        "BIGINT",
        "INTEGER",
        "ALL input tokens including cache reads and cache writes (genai-prices / Pydantic AI convention). "
        "Anthropic's raw input_tokens excludes the cache counts, so the gateway adds them; OpenAI's and "
        "Gemini's raw counts already include them. " + _TOKENS_NOTE,
    ),
    Column(
        "output_tokens",
        "BIGINT",
        "INTEGER",
        "ALL billed output tokens including reasoning/thinking tokens (Gemini reports thoughts apart from "
        "candidates, so the gateway adds them). " + _TOKENS_NOTE,
    ),
    Column("cached_tokens", "BIGINT", "INTEGER", "Cache-read input tokens (a subset of input_tokens)."),
    Column("cache_creation_tokens", "BIGINT", "INTEGER", "Cache-write input tokens (a subset of input_tokens)."),
    Column("reasoning_tokens", "BIGINT", "INTEGER", "Reasoning tokens (a subset of output_tokens)."),
    Column("usage_status", "TEXT NOT NULL", "TEXT NOT NULL", "How usage was obtained (see UsageStatus)."),
    Column(
        "input_cost",
        "NUMERIC(20,12)",
        "REAL",
        "USD. NULL (never a silent 0) when pricing_status is not 'priced', e.g. an unknown model.",
    ),
    Column("output_cost", "NUMERIC(20,12)", "REAL", "USD. NULL when pricing_status is not 'priced'."),
    Column(
        "total_cost",
        "NUMERIC(20,12)",
        "REAL",
        "USD, input_cost + output_cost. NULL when pricing_status is not 'priced' (unknown_model, no_usage).",
    ),
    Column(
        "pricing_status",
        "TEXT NOT NULL",
        "TEXT NOT NULL",
        "priced | unknown_model (cost NULL: the model is not in genai-prices) | no_usage (cost NULL) "
        "| unpriceable (cost NULL: genai-prices refused the reported counts; see error_message).",
    ),
    Column("error_message", "TEXT", "TEXT", "Upstream or gateway error, if any."),
    Column(
        "raw_metadata",
        "JSONB NOT NULL DEFAULT '{}'::jsonb",
        "TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(raw_metadata))",
        f"Tags as a JSON object keyed by the {wire.PREFIX}* header suffix in Title-Case: "
        "Feature, Step, User-Id, Session-Id, ... Query with raw_metadata->>'User-Id'.",
    ),
    Column("majordomo_api_key_id", "TEXT", "TEXT", "majordomo_api_keys.id of the caller's key (no FK)."),
    Column(
        "provider_api_key_hash",
        "TEXT",
        "TEXT",
        "sha256 hex prefix of the provider API key; the key itself is never stored.",
    ),
    Column("trace_id", "TEXT", "TEXT", "W3C trace id, 32 hex chars, as Jaeger and Logfire show it."),
    Column("span_id", "TEXT", "TEXT", "The gateway span's id, 16 hex chars."),
    Column("parent_span_id", "TEXT", "TEXT", "The caller's span id from the inbound traceparent, if any."),
)

if tuple(c.name for c in LLM_REQUEST_COLUMNS) != COLUMNS:  # pragma: no cover - guards the contract
    raise RuntimeError("llm_requests columns and RequestRecord fields differ; update store/_schema.py")

# Indexes: time ranges, trace lookups, and the guide's GROUP BY/WHERE on Feature and User-Id. Both
# dialects accept the same `->>` expression, and a query must spell it the same way to use the index.
_INDEXES: tuple[tuple[str, str], ...] = (
    ("llm_requests_requested_at_idx", "(requested_at)"),
    ("llm_requests_trace_id_idx", "(trace_id)"),
    ("llm_requests_feature_idx", "((raw_metadata->>'Feature'))"),
    ("llm_requests_user_id_idx", "((raw_metadata->>'User-Id'))"),
)

_TABLE_COMMENT = "One row per request proxied by the majordomo gateway; the gateway span renders the same record."


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_table(dialect: str) -> str:
    lines = [f"-- {_TABLE_COMMENT}", "CREATE TABLE IF NOT EXISTS llm_requests ("]
    for i, col in enumerate(LLM_REQUEST_COLUMNS):
        comma = "," if i < len(LLM_REQUEST_COLUMNS) - 1 else ""
        lines.append(f"    -- {col.comment}")
        lines.append(f"    {col.name} {col.pg if dialect == 'postgresql' else col.sqlite}{comma}")
    lines.append(")")
    return "\n".join(lines)


def _api_keys_table(dialect: str) -> str:
    ts = "TIMESTAMPTZ" if dialect == "postgresql" else "TEXT"
    return f"""-- Majordomo API keys: only the sha256 hash and a 4-char hint are stored, never the key.
CREATE TABLE IF NOT EXISTS majordomo_api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- sha256 hex of the full key (mdm_sk_...)
    key_hash TEXT NOT NULL UNIQUE,
    -- last 4 characters of the key, to recognise it in listings
    key_hint TEXT NOT NULL,
    created_at {ts} NOT NULL,
    -- NULL while the key is valid
    revoked_at {ts}
)"""


def version_table(dialect: str) -> str:
    ts = "TIMESTAMPTZ NOT NULL DEFAULT now()" if dialect == "postgresql" else "TEXT NOT NULL"
    return f"CREATE TABLE IF NOT EXISTS majordomo_schema_version (version INTEGER PRIMARY KEY, applied_at {ts})"


def _v1(dialect: str) -> list[str]:
    stmts = [_create_table(dialect), _api_keys_table(dialect)]
    stmts += [f"CREATE INDEX IF NOT EXISTS {name} ON llm_requests {expr}" for name, expr in _INDEXES]
    if dialect == "postgresql":
        stmts.append(f"COMMENT ON TABLE llm_requests IS {_sql_str(_TABLE_COMMENT)}")
        stmts += [f"COMMENT ON COLUMN llm_requests.{c.name} IS {_sql_str(c.comment)}" for c in LLM_REQUEST_COLUMNS]
    return stmts


#: Schema versions in order, each the statements (per dialect) that bring version - 1 to it. A version,
#: once released, never changes: a new table or index is a new version.
MIGRATIONS: Final[dict[int, Callable[[str], list[str]]]] = {
    1: _v1,
    2: partitioned_by_month,
    3: provider_credentials_table,
    4: budgets_tables,
}
SCHEMA_VERSION: Final = max(MIGRATIONS)


def pending_versions(current: int) -> list[int]:
    """The versions a database at `current` still needs, in order."""
    return sorted(v for v in MIGRATIONS if v > current)


def migration_statements(dialect: str, version: int) -> list[str]:
    """The statements that bring the schema from `version - 1` to `version`."""
    if version not in MIGRATIONS:
        raise ValueError(f"unknown schema version {version}")
    return MIGRATIONS[version](dialect)
