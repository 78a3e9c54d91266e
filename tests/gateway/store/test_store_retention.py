"""Retention (`majordomo records prune`): exactly the months before the cut go, on both stores; PostgreSQL
drops their partitions; `--dry-run` changes nothing; SQLite lets the gateway's writer in between batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from _store_helpers import make_record

from majordomo_otel.cli import main
from majordomo_otel.gateway.record import RequestRecord
from majordomo_otel.gateway.store import PostgresStore, SQLiteStore, Store, open_store
from majordomo_otel.gateway.store import _retention as retention
from majordomo_otel.gateway.store._partitions import DEFAULT_PARTITION, create_months_ahead, list_partitions
from majordomo_otel.gateway.store._retention import Removal, parse_cut, plan, prune

CUT = datetime(2026, 4, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 10, 0, 0, 250_000, tzinfo=UTC)


def month_records() -> list[RequestRecord]:
    """Two a month, January to June 2026; one in a November 2025 no partition holds; and the cut's two sides."""
    records = [make_record(m * 10 + d, requested_at=at(m, 3 + d)) for m in range(1, 7) for d in range(2)]
    return [
        make_record(900, requested_at=at(11, 20, year=2025)),
        *records,
        make_record(901, requested_at=CUT - timedelta(microseconds=1)),
        make_record(902, requested_at=CUT),
    ]


async def open_seeded(url: str) -> tuple[Store, list[RequestRecord]]:
    store = open_store(url)
    await store.open()
    await store.migrate()
    if isinstance(store, PostgresStore):
        async with store.pool.acquire() as conn:  # months January to June 2026 as partitions
            await create_months_ahead(conn, datetime(2026, 1, 1, tzinfo=UTC), ahead=5)
    records = month_records()
    await store.write_batch(records)
    return store, records


def seed(url: str) -> list[RequestRecord]:
    async def run() -> list[RequestRecord]:
        store, records = await open_seeded(url)
        await store.close()
        return records

    return asyncio.run(run())


def stored(url: str) -> tuple[list[RequestRecord], list[str]]:
    """Every record, and the partitions (PostgreSQL; [] on SQLite)."""

    async def run() -> tuple[list[RequestRecord], list[str]]:
        store = open_store(url)
        await store.open()
        try:
            records = await store.get_records()
            if not isinstance(store, PostgresStore):
                return records, []
            async with store.pool.acquire() as conn:
                return records, [p.name for p in await list_partitions(conn)]
        finally:
            await store.close()

    return asyncio.run(run())


def kept(records: list[RequestRecord]) -> list[RequestRecord]:
    """What prune leaves, in `get_records` order."""
    return sorted((r for r in records if r.requested_at >= CUT), key=lambda r: (r.requested_at, r.id))


def listed(removal: Removal) -> str:
    return f"{removal.month:%Y-%m}  {removal.records:>12,}  {removal.action}"


def expected_removals(dialect: str) -> list[Removal]:
    counts = [(date(2025, 11, 1), 1), (date(2026, 1, 1), 2), (date(2026, 2, 1), 2), (date(2026, 3, 1), 3)]
    if dialect == "sqlite":
        return [Removal(month, n, "delete") for month, n in counts]
    return [
        Removal(date(2025, 11, 1), 1, f"delete from {DEFAULT_PARTITION}"),
        *(Removal(m, n, f"drop partition llm_requests_{m:%Y_%m}") for m, n in counts[1:]),
    ]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_prune_removes_exactly_the_records_before_the_cut(store_url: str) -> None:
    store, records = await open_seeded(store_url)
    try:
        removed = await prune(store, CUT)

        assert removed == expected_removals(store.dialect)
        assert await store.get_records() == kept(records)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_prune_drops_the_partitions_of_those_months(pg_url: str) -> None:
    store, _ = await open_seeded(pg_url)
    assert isinstance(store, PostgresStore)
    try:
        async with store.pool.acquire() as conn:
            before = [p.name for p in await list_partitions(conn)]
            await prune(store, CUT)
            after = [p.name for p in await list_partitions(conn)]
    finally:
        await store.close()

    gone = ["llm_requests_2026_01", "llm_requests_2026_02", "llm_requests_2026_03"]
    assert (after, set(gone) <= set(before)) == ([p for p in before if p not in gone], True)


async def test_the_plan_is_what_prune_then_removes(store_url: str) -> None:
    store, records = await open_seeded(store_url)
    try:
        planned = await plan(store, CUT)
        unchanged = await store.get_records()
        removed = await prune(store, CUT)
    finally:
        await store.close()

    assert (planned, unchanged) == (removed, sorted(records, key=lambda r: (r.requested_at, r.id)))


def test_dry_run_lists_the_months_and_changes_nothing(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(store_url)
    before = stored(store_url)

    code, out, err = run_cli(
        capsys, "records", "prune", "--before", "2026-04", "--dry-run", "--database-url", store_url
    )

    dialect = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "month         records  would go",
        *map(listed, expected_removals(dialect)),
        f"would remove 8 record(s) before 2026-04-01 (UTC) in {store_url}; nothing changed",
    ]
    assert stored(store_url) == before


def test_prune_says_what_went_month_by_month(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    records = seed(store_url)

    code, out, _ = run_cli(capsys, "records", "prune", "--before", "2026-04-01", "--database-url", store_url)

    dialect = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    assert (code, out.splitlines()) == (
        0,
        [
            "month         records  removed",
            *map(listed, expected_removals(dialect)),
            f"removed 8 record(s) before 2026-04-01 (UTC) in {store_url}",
        ],
    )
    assert stored(store_url)[0] == kept(records)


async def test_sqlite_prune_lets_the_writer_in_between_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's writer (its own connection to the file) commits while a month is still being deleted:
    one long transaction would hold it off until the whole month was gone."""
    monkeypatch.setattr(retention, "BATCH", 200)
    path = tmp_path / "m.db"
    pruner, gateway = SQLiteStore(path), SQLiteStore(path, busy_timeout_ms=1000)
    await pruner.open()
    await gateway.open()
    try:
        await pruner.migrate()
        old = [make_record(i, requested_at=at(1, 1) + timedelta(seconds=i)) for i in range(3000)]
        await pruner.write_batch(old)
        left_when_written: list[int] = []

        async def write_meanwhile() -> None:
            for i in range(1000):
                await gateway.write_batch([make_record(i, requested_at=NOW)])
                [row] = await gateway.query("SELECT COUNT(*) AS n FROM llm_requests WHERE requested_at < '2026-02'")
                left_when_written.append(row["n"])
                if not row["n"]:
                    return
                await asyncio.sleep(0.01)

        removed, _ = await asyncio.gather(prune(pruner, datetime(2026, 2, 1, tzinfo=UTC)), write_meanwhile())

        assert removed == [Removal(date(2026, 1, 1), 3000, "delete")]
        assert sum(1 for left in left_when_written if 0 < left < 3000) >= 3  # written mid-month, many times
    finally:
        await pruner.close()
        await gateway.close()


@pytest.mark.parametrize(
    ("before", "keep", "cut"),
    [
        ("2026-06", None, datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-06-01", None, datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-12", None, datetime(2026, 12, 1, tzinfo=UTC)),  # the current month's start: all before it
        (None, 6, datetime(2026, 6, 1, tzinfo=UTC)),  # December and the 6 before it stay
        (None, 0, datetime(2026, 12, 1, tzinfo=UTC)),
        (None, 13, datetime(2025, 11, 1, tzinfo=UTC)),
    ],
)
def test_the_cut_is_a_month_start(before: str | None, keep: int | None, cut: datetime) -> None:
    assert parse_cut(before, keep, now=NOW) == cut


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--before", "2026-06-15"], "--before '2026-06-15': whole months only, as YYYY-MM (2026-06) or YYYY-MM-01"),
        (["--before", "2026-13"], "--before '2026-13': whole months only, as YYYY-MM (2026-06) or YYYY-MM-01"),
        (["--before", "june"], "--before 'june': whole months only, as YYYY-MM (2026-06) or YYYY-MM-01"),
        (["--keep-months", "-1"], "--keep-months -1: a number of months, 0 or more"),
        (
            ["--before", "2999-01"],
            "--before 2999-01 would remove records of the current month ({now:%Y-%m}), which is still being "
            "written: the latest cut is --before {now:%Y-%m}",
        ),
    ],
)
def test_a_bad_cut_is_one_line(
    argv: list[str], message: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "records", "prune", *argv, "--database-url", sqlite_url)
    now = datetime.now(UTC)
    assert (code, out, err) == (2, "", f"majordomo records: {message.format(now=now)}\n")


def test_a_missing_sqlite_file_is_one_line_and_stays_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere.db"
    code, out, err = run_cli(capsys, "records", "prune", "--keep-months", "6", "--database-url", f"sqlite:///{path}")
    assert (code, out, err, path.exists()) == (
        2,
        "",
        f"majordomo records: no database at {path} (set --database-url or MAJORDOMO_DATABASE_URL)\n",
        False,
    )


@pytest.mark.postgres
def test_a_table_not_yet_partitioned_says_to_migrate(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def at_version_1() -> None:
        store = open_store(pg_url)
        await store.open()
        await store.migrate(target=1)  # type: ignore[call-arg]
        await store.close()

    asyncio.run(at_version_1())
    code, out, err = run_cli(capsys, "records", "prune", "--keep-months", "6", "--dry-run", "--database-url", pg_url)
    assert (code, out, err) == (
        2,
        "",
        "majordomo records: llm_requests is not partitioned by month yet (schema version 1): "
        "run `majordomo migrate` first\n",
    )


@pytest.mark.postgres
def test_a_table_kept_locked_fails_in_one_line_after_what_went(
    pg_url: str, pg_schema: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "DROP_TRIES", 1)
    seed(pg_url)
    with psycopg.connect(pg_url.split("?")[0], options=f"-c search_path={pg_schema}") as report:
        report.execute("SELECT COUNT(*) FROM llm_requests")  # a long report: its transaction holds the table

        code, out, err = run_cli(capsys, "records", "prune", "--before", "2026-04", "--database-url", pg_url)

    assert (code, out.splitlines()[1:], err) == (
        1,
        [listed(expected_removals("postgresql")[0])],
        "majordomo records: RetentionBlocked: could not drop llm_requests_2026_01: other sessions held "
        "llm_requests locked through 1 tries of 2000 ms (a long query?); run the prune again when it is done "
        "(--verbose shows the traceback)\n",
    )


def test_an_unreachable_database_is_one_line_without_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:1/test"  # nothing listens on port 1
    code, out, err = run_cli(capsys, "records", "prune", "--keep-months", "6", "--database-url", url)
    assert (code, out, err.count("\n"), "s3cret" in err) == (1, "", 1, False)
    assert err.startswith("majordomo records: cannot use the database (")
    assert err.endswith("check --database-url or MAJORDOMO_DATABASE_URL and that the server is running and reachable\n")
