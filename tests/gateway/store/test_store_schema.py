"""Schema: migrate is idempotent on both stores, columns match RequestRecord, the comments say what counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from majordomo_otel.gateway.record import COLUMNS
from majordomo_otel.gateway.store import (
    SCHEMA_VERSION,
    Store,
    UnsupportedDatabaseURL,
    default_spool_dir,
    migrate,
    open_store,
)
from majordomo_otel.gateway.store._schema import MIGRATIONS


async def test_migrate_twice_is_a_no_op(store: Store, store_url: str) -> None:
    assert await store.migrate() == SCHEMA_VERSION
    assert await migrate(store_url) == SCHEMA_VERSION
    rows = await store.query("SELECT version FROM majordomo_schema_version ORDER BY version")
    assert rows == [{"version": v} for v in sorted(MIGRATIONS)]


async def test_llm_requests_columns_are_the_record_fields(store: Store) -> None:
    if store.dialect == "sqlite":
        rows = await store.query("SELECT name FROM pragma_table_info('llm_requests') ORDER BY cid")
    else:
        rows = await store.query(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_name = 'llm_requests' AND table_schema = current_schema() ORDER BY ordinal_position"
        )
    assert tuple(r["name"] for r in rows) == COLUMNS


async def test_postgres_column_types_and_comments(pg_url: str) -> None:
    store = open_store(pg_url)
    await store.open()
    await store.migrate()
    try:
        rows = await store.query(
            "SELECT column_name, data_type, "
            "col_description('llm_requests'::regclass, ordinal_position) AS comment "
            "FROM information_schema.columns "
            "WHERE table_name = 'llm_requests' AND table_schema = current_schema() "
            "AND column_name IN ('id', 'requested_at', 'total_cost', 'raw_metadata', 'streamed', "
            "'input_tokens', 'output_tokens') ORDER BY ordinal_position"
        )
    finally:
        await store.close()
    assert [(r["column_name"], r["data_type"]) for r in rows] == snapshot(
        [
            ("id", "uuid"),
            ("requested_at", "timestamp with time zone"),
            ("streamed", "boolean"),
            ("input_tokens", "bigint"),
            ("output_tokens", "bigint"),
            ("total_cost", "numeric"),
            ("raw_metadata", "jsonb"),
        ]
    )
    comments = {r["column_name"]: r["comment"] for r in rows}
    assert "including cache reads and cache writes" in comments["input_tokens"]
    assert "Anthropic's raw input_tokens excludes the cache counts" in comments["input_tokens"]
    assert "OpenAI's and Gemini's raw counts already include them" in comments["input_tokens"]
    assert "including reasoning" in comments["output_tokens"]
    assert "Gemini reports thoughts apart" in comments["output_tokens"]
    assert "NULL when pricing_status is not 'priced'" in comments["total_cost"]


async def test_sqlite_ddl_carries_the_comments_and_uses_wal(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    await store.open()
    await store.migrate()
    try:
        [ddl] = await store.query("SELECT sql FROM sqlite_master WHERE name = 'llm_requests'")
        [mode] = await store.query("PRAGMA journal_mode")
    finally:
        await store.close()
    assert "-- ALL input tokens including cache reads and cache writes" in ddl["sql"]
    assert "unknown_model (cost NULL" in ddl["sql"]
    assert mode == {"journal_mode": "wal"}


async def test_guide_filters_use_the_raw_metadata_indexes(store: Store) -> None:
    sql = "SELECT id FROM llm_requests WHERE raw_metadata->>'Feature' = 'research'"
    if store.dialect == "sqlite":
        plan = " ".join(r["detail"] for r in await store.query(f"EXPLAIN QUERY PLAN {sql}"))
    else:
        await store.query("SET enable_seqscan = off")  # an empty table would otherwise be scanned
        plan = " ".join(r["QUERY PLAN"] for r in await store.query(f"EXPLAIN {sql}"))
    # PostgreSQL: each month partition's own index, named after it (llm_requests_2026_12_feature_idx)
    assert re.search(r"llm_requests_(\w+_)?feature_idx", plan)


@pytest.mark.parametrize(
    ("url", "kind", "detail"),
    [
        ("sqlite:///relative/dir/m.db", "SQLiteStore", "relative/dir/m.db"),
        ("sqlite:////abs/dir/m.db", "SQLiteStore", "/abs/dir/m.db"),
        ("postgresql://u@h:5433/db", "PostgresStore", "postgresql://u@h:5433/db"),
        ("postgres://u:secret@h/db?schema=s1", "PostgresStore", "postgres://u:***@h/db (schema s1)"),
    ],
)
def test_open_store_parses_urls(url: str, kind: str, detail: str) -> None:
    store = open_store(url)
    assert type(store).__name__ == kind
    shown = str(store.path) if kind == "SQLiteStore" else store.display_url  # type: ignore[attr-defined]
    assert shown == detail


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://relative.db", "sqlite:///", "majordomo.db"])
def test_open_store_rejects_other_urls(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURL):
        open_store(url)


def test_default_spool_dir_sits_beside_the_database() -> None:
    assert default_spool_dir("sqlite:///./data/majordomo.db") == Path("./data/majordomo.db.spool")
    assert default_spool_dir("sqlite:////var/lib/m.db") == Path("/var/lib/m.db.spool")
    assert default_spool_dir("postgresql://u@h/db") == Path("majordomo-spool")
