"""PostgreSQL at volume: batched inserts into the partitioned `llm_requests`, and the guide's and `majordomo
costs`' queries on millions of rows, before (schema version 1, one table) and after (version 2, by month).

    python bench/bench_partitions.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--rows 10000000]
        [--insert-records 20000] [--batches 100,500,1000,2000,5000] [--methods executemany,unnest,copy] [--rounds 3]
        [--repeat 3] [--out bench/results/partitions-<date>.md]

Inserts: the real `PostgresStore.write_batch`, one call per batch as the RecordWriter makes them, into two
fresh schemas side by side: "v1" (version 1's one table, its primary key widened to `(id, requested_at)` so
the same ON CONFLICT target applies) and "v2" (the month partitions). Records are stamped now, so they land
in the current month as a gateway's do. Rounds interleave v1 and v2 per batch size and method; reported:
records/s (wall, median over rounds), this process's CPU per record and the server backend's CPU per
record (`/proc/<pid>/stat` of the connection's backend, which runs on this machine).

Queries: `--rows` records generated in SQL (`generate_series`) over the last 12 months into a scratch schema
at version 1 (indexes built after the load, then `VACUUM ANALYZE`, as a long-lived table is), and the same
rows copied into a second schema that `migrate()` takes to version 2 (timed: the upgrade's copy). Every query
of examples/queries.sql and `majordomo costs`' own (`cost_totals`, `trace_costs`) then runs on both in turn
(order alternating, after a warm-up run on each), with parallel query off so one backend's CPU is the whole
query's; reported: best wall time, median backend CPU, the plan's scan nodes. Retention on the same data: the
oldest month deleted on v1 (in a transaction rolled back) vs its partition dropped on v2. The scratch
schemas are dropped at the end, whatever happens. ~25 min for 10M rows on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))

from _procs import PG_DEFAULT, cpu_seconds
from _records import sample_record

from majordomo_otel.costs import cost_totals, trace_costs
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store import PostgresStore
from majordomo_otel.gateway.store._partitions import add_months, month_of, month_start, partition_name
from majordomo_otel.gateway.store._retention import prune

QUERIES_SQL = Path(__file__).parents[1] / "examples" / "queries.sql"
FEATURES = ["document-qa", "research", "support-chat", "summarise", "triage", "code-review", "search", "extract"]
TRACE_SPAN = 5  # requests per trace in the generated data


def guide_queries() -> dict[str, str]:
    """examples/queries.sql: title (the comment line above it) → statement."""
    queries: dict[str, str] = {}
    title, lines = "", []
    for line in QUERIES_SQL.read_text().splitlines():
        if line.startswith("-- ") and not lines:
            title = line[3:]
        elif line.strip() and not line.startswith("--"):
            lines.append(line)
            if line.rstrip().endswith(";"):
                queries[title] = "\n".join(lines).rstrip(";")
                lines = []
    return queries


# -- inserts ------------------------------------------------------------------------------------------------
def record(i: int, at: datetime) -> RequestRecord:
    return sample_record(i, at, feature=FEATURES[i % 8], users=500)


@dataclass
class InsertCell:
    rates: list[float] = field(default_factory=list)
    client_us: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)


async def _schema_store(dsn: str, admin: asyncpg.Connection, version: int, method: str) -> tuple[PostgresStore, str]:
    schema = f"bench_part_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    store = PostgresStore(dsn, schema=schema, insert_method=method, max_connections=1)  # type: ignore[arg-type]
    await store.open()
    await store.migrate(target=version)
    if version == 1:  # the same conflict target as version 2's, so the same statements run on both
        await store.query(
            "ALTER TABLE llm_requests DROP CONSTRAINT llm_requests_pkey, ADD PRIMARY KEY (id, requested_at)"
        )
    return store, schema


async def insert_round(store: PostgresStore, batch: int, total: int, cell: InsertCell) -> None:
    now = datetime.now(UTC)
    records = [record(i, now + timedelta(microseconds=i)) for i in range(total)]
    [backend] = await store.query("SELECT pg_backend_pid() AS pid")
    server0, client0, t0 = cpu_seconds(backend["pid"]), time.process_time(), time.perf_counter()
    for i in range(0, total, batch):
        await store.write_batch(records[i : i + batch])
    wall = time.perf_counter() - t0
    cell.rates.append(total / wall)
    cell.client_us.append((time.process_time() - client0) / total * 1e6)
    cell.server_us.append((cpu_seconds(backend["pid"]) - server0) / total * 1e6)


async def bench_inserts(
    dsn: str, admin: asyncpg.Connection, methods: Sequence[str], batches: Sequence[int], total: int, rounds: int
) -> list[str]:
    cells: dict[tuple[str, int, int], InsertCell] = {}
    stores: dict[tuple[str, int], PostgresStore] = {}
    schemas: list[str] = []
    try:
        for method in methods:
            for version in (1, 2):
                store, schema = await _schema_store(dsn, admin, version, method)
                stores[(method, version)] = store
                schemas.append(schema)
                await insert_round(store, 500, min(total, 2000), InsertCell())  # warm up: statements, caches
        for r in range(rounds):
            for method in methods:
                for batch in batches:
                    for version in (1, 2) if r % 2 == 0 else (2, 1):  # A/B order alternates
                        cell = cells.setdefault((method, batch, version), InsertCell())
                        await insert_round(stores[(method, version)], batch, total, cell)
    finally:
        for store in stores.values():
            await store.close()
        for schema in schemas:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    lines = [
        "| method | batch | v1 records/s | v2 records/s | v2/v1 | client CPU µs/record v1 → v2 | "
        "server CPU µs/record v1 → v2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        for batch in batches:
            a, b = cells[(method, batch, 1)], cells[(method, batch, 2)]
            ra, rb = statistics.median(a.rates), statistics.median(b.rates)
            lines.append(
                f"| {method} | {batch} | {ra:,.0f} | {rb:,.0f} | {rb / ra:.2f} | "
                f"{statistics.median(a.client_us):.1f} → {statistics.median(b.client_us):.1f} | "
                f"{statistics.median(a.server_us):.1f} → {statistics.median(b.server_us):.1f} |"
            )
    return lines


# -- data at volume -----------------------------------------------------------------------------------------
def generate_sql(first: int, last: int, rows: int, start: datetime, end: datetime) -> str:
    """Rows `first..last` of `rows` spread evenly over [start, end), shaped like the gateway's: UUIDv7-like ids
    in time order, 8 features (5 % untagged), 5,000 users, 4 steps, sessions of 20 and traces of 5 requests,
    3 providers, 2 % unpriced."""
    span_us = int((end - start).total_seconds() * 1e6)
    return f"""
INSERT INTO llm_requests
SELECT
    (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3) || '8'
        || substr(h, 4, 15))::uuid,
    (ARRAY['openai', 'anthropic', 'gemini'])[1 + i % 3],
    (ARRAY['/v1/chat/completions', '/v1/messages', '/v1beta/models/gemini-2.5-flash:generateContent'])[1 + i % 3],
    'POST', t,
    (ARRAY['chat_completions', 'messages', 'generate_content'])[1 + i % 3],
    (ARRAY['gpt-4o-mini-2024-07-18', 'claude-haiku-4-5-20251001', 'gemini-2.5-flash', 'gpt-4o-2024-08-06',
           'claude-sonnet-4-5-20250929', 'gemini-2.5-pro'])[1 + i % 6],
    (ARRAY['gpt-4o-mini', 'claude-haiku-4-5', 'gemini-2.5-flash', 'gpt-4o', 'claude-sonnet-4-5',
           'gemini-2.5-pro'])[1 + i % 6],
    t + (200 + r % 3000) * interval '1 millisecond', 200 + r % 3000, CASE WHEN i % 4 = 0 THEN 80 + r % 400 END,
    i % 4 = 0, CASE WHEN i % 100 = 0 THEN 500 ELSE 200 END,
    500 + r % 3000, 50 + r % 700, CASE WHEN i % 3 = 1 THEN (r % 500) END, NULL, NULL,
    'ok',
    CASE WHEN i % 50 <> 0 THEN (500 + r % 3000) * 0.00000015 END,
    CASE WHEN i % 50 <> 0 THEN (50 + r % 700) * 0.0000006 END,
    CASE WHEN i % 50 <> 0 THEN (500 + r % 3000) * 0.00000015 + (50 + r % 700) * 0.0000006 END,
    CASE WHEN i % 50 <> 0 THEN 'priced' ELSE 'unknown_model' END,
    CASE WHEN i % 100 = 0 THEN 'upstream 500' END,
    jsonb_strip_nulls(jsonb_build_object(
        'Feature', CASE WHEN i % 20 <> 0 THEN (ARRAY{FEATURES!r})[1 + (r / 7) % 8] END,
        'Step', (ARRAY['retrieve', 'answer', 'search', 'summarise'])[1 + (i / {TRACE_SPAN}) % 4],
        'User-Id', 'user-' || (r / 13) % 5000,
        'Session-Id', 's-' || i / 20)),
    '3f1e9c1a-0000-4000-8000-00000000000' || (i % 4),
    '9f86d081884c7d65',
    md5('trace' || i / {TRACE_SPAN}), substr(h, 17, 16), substr(md5('parent' || i / {TRACE_SPAN}), 1, 16)
FROM (
    SELECT i, md5(i::text) AS h, abs(hashint8(i)) AS r,
           '{start.isoformat()}'::timestamptz + (i::bigint * {span_us // rows}) * interval '1 microsecond' AS t
    FROM generate_series({first}, {last}) AS i
) g
"""


def _scans(plan: dict[str, Any], found: list[str]) -> list[str]:
    node = plan["Node Type"]
    if "Scan" in node:
        found.append(f"{node} {plan['Index Name']}" if "Index Name" in plan else node)
    for child in plan.get("Plans", ()):
        _scans(child, found)
    return found


_PARTITION = re.compile(r"llm_requests_(\d{4}_\d{2}|default)_")


def summarise_scans(scans: list[str]) -> str:
    """13 scans of `llm_requests_2026_05_trace_id_idx`... → `Index Scan llm_requests_*_trace_id_idx x13`."""
    counts = Counter(_PARTITION.sub("llm_requests_*_", s) for s in scans)
    return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items())


Query = Callable[[PostgresStore], Awaitable[tuple[str, Sequence[Any]]]]


def queries(now: datetime, trace_id: str) -> dict[str, Query]:
    """title → run it on a store, returning the SQL it sent (to EXPLAIN)."""

    def guide(sql: str) -> Query:
        async def run(store: PostgresStore) -> tuple[str, Sequence[Any]]:
            await store.query(sql)
            return sql, ()

        return run

    def costs(work: Callable[[Any], Awaitable[Any]]) -> Query:
        async def run(store: PostgresStore) -> tuple[str, Sequence[Any]]:
            capture = _Capture(store)
            await work(capture)
            return capture.sql

        return run

    found: dict[str, Query] = {f"guide: {title}": guide(sql) for title, sql in guide_queries().items()}
    return found | {
        "costs --by feature": costs(lambda s: cost_totals(s, by=["feature"])),
        "costs --by feature,step,user --since 7d": costs(
            lambda s: cost_totals(s, by=["feature", "step", "user"], since=now - timedelta(days=7))
        ),
        "costs --by user --since 24h": costs(lambda s: cost_totals(s, by=["user"], since=now - timedelta(hours=24))),
        "costs --trace ID": costs(lambda s: trace_costs(s, trace_id)),
        "costs --trace ID --since 30d": costs(lambda s: trace_costs(s, trace_id, since=now - timedelta(days=30))),
    }


class _Capture:
    """A store's `query` that keeps the SQL `majordomo costs` sent, so it can be EXPLAINed too."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.dialect = store.dialect
        self.display_url = store.display_url
        self.sql: tuple[str, Sequence[Any]] = ("", ())

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.sql = (sql, list(params))
        return await self._store.query(sql, params)


@dataclass
class Measured:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    plan: str = ""


async def measure(store: PostgresStore, query: Query, into: Measured) -> None:
    """One run: wall time, and the CPU of the backend that ran it (parallel query is off: it is all there)."""
    [backend] = await store.query("SELECT pg_backend_pid() AS pid")
    cpu0, t0 = cpu_seconds(backend["pid"]), time.perf_counter()
    sql, params = await query(store)
    into.wall.append(time.perf_counter() - t0)
    into.cpu.append(cpu_seconds(backend["pid"]) - cpu0)
    if not into.plan:
        [row] = await store.query(f"EXPLAIN (FORMAT JSON) {sql}", params)
        into.plan = summarise_scans(_scans(json.loads(row["QUERY PLAN"])[0]["Plan"], []))


async def load_v1(store: PostgresStore, fill: Callable[[asyncpg.Connection], Awaitable[None]]) -> float:
    """Version 1 with rows from `fill`, its indexes built after the load (5x faster than row by row, and the
    same end state), vacuumed and analysed as a long-lived table is; seconds taken."""
    t0 = time.perf_counter()
    await store.migrate(target=1)
    async with store.pool.acquire() as conn:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'llm_requests' "
            "AND schemaname = current_schema() AND indexname <> 'llm_requests_pkey'"
        )
        for ix in indexes:
            await conn.execute(f"DROP INDEX {ix['indexname']}")
        await fill(conn)
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute("VACUUM ANALYZE llm_requests")
    return time.perf_counter() - t0


async def bench_volume(dsn: str, admin: asyncpg.Connection, rows: int, repeat: int, chunk: int) -> list[str]:
    """v1 (one table) and v2 (the same rows migrated to months) side by side, every query on both in turn."""
    now = datetime.now(UTC)
    start = month_start(add_months(month_of(now), -11))
    schemas = {v: f"bench_part_{v}_{uuid.uuid4().hex[:8]}" for v in ("v1", "v2")}
    # One backend per store (so its CPU is the query's), parallel query off, long scans allowed.
    stores = {
        v: PostgresStore(f"{dsn}?max_parallel_workers_per_gather=0", schema=s, max_connections=1, command_timeout=3600)
        for v, s in schemas.items()
    }
    try:
        for v, schema in schemas.items():
            await admin.execute(f'CREATE SCHEMA "{schema}"')
            await stores[v].open()

        async def generate(conn: asyncpg.Connection) -> None:
            for first in range(1, rows + 1, chunk):
                await conn.execute(generate_sql(first, min(rows, first + chunk - 1), rows, start, now))

        async def copy_v1(conn: asyncpg.Connection) -> None:
            await conn.execute(f'INSERT INTO llm_requests SELECT * FROM "{schemas["v1"]}".llm_requests')

        load_s = await load_v1(stores["v1"], generate)
        [size] = await stores["v1"].query("SELECT pg_size_pretty(pg_total_relation_size('llm_requests')) AS s")
        print(f"generated {rows:,} rows, indexed, vacuumed: {load_s:.0f} s, {size['s']}", flush=True)
        await load_v1(stores["v2"], copy_v1)
        t0 = time.perf_counter()
        await stores["v2"].migrate()
        migrate_s = time.perf_counter() - t0
        await stores["v2"].query("VACUUM ANALYZE llm_requests")
        partitions = len(
            await stores["v2"].query("SELECT 1 FROM pg_inherits WHERE inhparent = 'llm_requests'::regclass")
        )
        print(f"migrated a copy to month partitions in {migrate_s:.0f} s", flush=True)

        trace_id = (await stores["v1"].query(f"SELECT md5('trace' || {rows // 2 // TRACE_SPAN}) AS t"))[0]["t"]
        results: dict[str, dict[str, Measured]] = {}
        for title, query in queries(now, trace_id).items():
            cells = results[title] = {"v1": Measured(), "v2": Measured()}
            for v in ("v1", "v2"):
                await query(stores[v])  # warm-up: the page cache, the plan
            for r in range(repeat):
                for v in ("v1", "v2") if r % 2 == 0 else ("v2", "v1"):
                    await measure(stores[v], query, cells[v])
            print(f"{title}: {min(cells['v1'].wall):.3f} s / {min(cells['v2'].wall):.3f} s", flush=True)

        cut = month_start(add_months(month_of(start), 1))
        async with stores["v1"].pool.acquire() as conn:  # retention on one table: the month's DELETE (rolled back)
            transaction = conn.transaction()
            await transaction.start()
            t0 = time.perf_counter()
            deleted = await conn.execute("DELETE FROM llm_requests WHERE requested_at < $1", cut)
            delete_s = time.perf_counter() - t0
            await transaction.rollback()
        t0 = time.perf_counter()
        pruned = await prune(stores["v2"], cut)
        prune_s = time.perf_counter() - t0
    finally:
        for store in stores.values():
            await store.close()
        for schema in schemas.values():
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    lines = [
        f"{rows:,} rows over 12 months ({month_of(start):%Y-%m} to {month_of(now):%Y-%m}), {size['s']} with "
        f"indexes; generated, indexed and vacuumed in {load_s:.0f} s.",
        "",
        f"Upgrade to version 2 (`migrate()` on a copy: rows moved into {partitions} partitions, indexes built "
        f"after): **{migrate_s:.0f} s**, {rows / migrate_s:,.0f} rows/s.",
        "",
        f"Retention of the oldest month ({int(deleted.split()[-1]):,} rows): one table, `DELETE` {delete_s:.1f} s "
        f"(and the dead rows left to vacuum); months, `prune` dropping {partition_name(month_of(start))} "
        f"{prune_s:.2f} s ({sum(p.records for p in pruned):,} records).",
        "",
        f"Each query on v1 then v2 (order alternating), after a warm-up run on each: best wall time and the median "
        f"CPU of the backend over {repeat} runs, parallel query off.",
        "",
        "| query | v1 s | v2 s | v2/v1 wall | v1 CPU s | v2 CPU s | v2/v1 CPU | v1 plan (scans) | v2 plan (scans) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for title, cells in results.items():
        a, b = cells["v1"], cells["v2"]
        wa, wb, ca, cb = min(a.wall), min(b.wall), statistics.median(a.cpu), statistics.median(b.cpu)
        lines.append(
            f"| {title} | {wa:.3f} | {wb:.3f} | {wb / wa:.2f} | {ca:.2f} | {cb:.2f} | "
            f"{f'{cb / ca:.2f}' if ca else '-'} | {a.plan} | {b.plan} |"
        )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000, help="rows per generating INSERT")
    parser.add_argument("--insert-records", type=int, default=20_000, help="records per insert round and cell")
    parser.add_argument("--batches", default="100,500,1000,2000,5000")
    parser.add_argument("--methods", default="executemany,unnest,copy")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query and schema, after a warm-up")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    admin = await asyncpg.connect(args.pg)
    try:
        inserts = await bench_inserts(
            args.pg,
            admin,
            args.methods.split(","),
            [int(b) for b in args.batches.split(",")],
            args.insert_records,
            args.rounds,
        )
        print("\n".join(inserts), flush=True)
        volume = await bench_volume(args.pg, admin, args.rows, args.repeat, args.chunk)
        print("\n".join(volume), flush=True)
    finally:
        await admin.close()
    if args.out:
        load = os.getloadavg()
        args.out.write_text(
            "\n".join(
                [
                    f"# PostgreSQL at volume: partitions, {datetime.now(UTC):%Y-%m-%d}",
                    "",
                    f"`python bench/bench_partitions.py {' '.join(sys.argv[1:])}`, load average at the end "
                    f"{load[0]:.1f} (2 cores, shared).",
                    "",
                    "## Batched inserts through `PostgresStore.write_batch`",
                    "",
                    *inserts,
                    "",
                    "## Queries",
                    "",
                    *volume,
                    "",
                ]
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
