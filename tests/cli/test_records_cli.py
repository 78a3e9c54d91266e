"""`majordomo records rejected|import`: records a database refused are shown, and imported again cleaned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from dirty_equals import IsStr

from majordomo_otel.cli import main
from majordomo_otel.gateway.record import RequestRecord, new_request_id
from majordomo_otel.gateway.store._spool import Spool

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _record(user: str) -> RequestRecord:
    return RequestRecord(
        id=new_request_id(),
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=T0,
        model="gpt-4o-mini",
        status_code=200,
        total_cost=Decimal("0.000123"),
        raw_metadata={"user_id": user},
    )


def _reject(spool: Path, *records: RequestRecord) -> None:
    """As the writer does when the store refuses a record for good."""
    Spool(spool).reject(list(records), "CharacterNotInRepertoireError")


async def _rows(pg_url: str) -> list[tuple[str, str, str | None]]:
    dsn, schema = pg_url.split("?schema=")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f'SELECT id, raw_metadata, error_message FROM "{schema}".llm_requests')
    finally:
        await conn.close()
    return [(str(r["id"]), r["raw_metadata"], r["error_message"]) for r in rows]


def test_rejected_lists_the_records_and_says_how_to_retry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    record = _record("alice\x00")
    _reject(spool, record)
    code, out, err = _run(capsys, "records", "rejected", "--spool-dir", str(spool), "--database-url", "sqlite:///x.db")
    assert (code, out.splitlines()[1:], err) == (
        0,
        [
            IsStr(
                regex=rf"{record.id}\s+2026-12-01T09:30:00\+00:00\s+openai\s+gpt-4o-mini\s+CharacterNotInRepertoireError"
            )
        ],
        f"1 rejected record(s) in {spool}; `majordomo records import` retries them\n",
    )


@pytest.mark.postgres
def test_import_stores_them_cleaned_and_empties_the_file(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    records = [_record("alice\x00"), _record("bob")]
    _reject(spool, *records)
    code, out, _ = _run(capsys, "records", "import", "--spool-dir", str(spool), "--database-url", pg_url)
    again = _run(capsys, "records", "import", "--spool-dir", str(spool), "--database-url", pg_url)
    assert (code, out, again[0], sorted(p.name for p in spool.iterdir())) == (
        0,
        f"imported 2 record(s); 0 still rejected (in {spool})\n",
        0,
        [],
    )
    assert sorted(asyncio.run(_rows(pg_url))) == sorted(
        [
            (records[0].id, '{"user_id": "alice\ufffd"}', IsStr(regex=r"unstorable characters .* replaced in: .*")),
            (records[1].id, '{"user_id": "bob"}', None),
        ]
    )


def test_an_unreadable_line_stays_and_the_command_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    good = _record("carol")
    _reject(spool, good)
    with open(spool / "rejected.jsonl", "a") as f:
        f.write('{"error": "x", "line": "not a record"}\n')
    url = f"sqlite:///{tmp_path / 'r.db'}"
    code, out, _ = _run(capsys, "records", "import", "--spool-dir", str(spool), "--database-url", url)
    left = (spool / "rejected.jsonl").read_text()
    assert (code, out, left) == (
        1,
        f"imported 1 record(s); 1 still rejected (in {spool})\n",
        '{"error": "x", "line": "not a record"}\n',
    )


def test_each_workers_rejected_records_are_listed_while_workers_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With `--workers N` each worker sets records aside in its own folder (`<spool>/worker-K/`)."""
    spool = tmp_path / "spool"
    first, third = _record("dave"), _record("erin")
    _reject(spool, first)
    _reject(spool / "worker-3", third)
    code, out, err = _run(capsys, "records", "rejected", "--spool-dir", str(spool), "--database-url", "sqlite:///x.db")
    assert (code, [line.split()[0] for line in out.splitlines()[1:]], err) == (
        0,
        [first.id, third.id],
        f"2 rejected record(s) in {spool}; `majordomo records import` retries them\n",
    )


def test_import_takes_every_workers_rejected_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    _reject(spool, _record("frank"))
    _reject(spool / "worker-2", _record("grace"), _record("heidi"))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    code, out, _ = _run(capsys, "records", "import", "--spool-dir", str(spool), "--database-url", url)
    again = _run(capsys, "records", "rejected", "--spool-dir", str(spool), "--database-url", url)
    assert (code, out, again[2]) == (
        0,
        f"imported 3 record(s); 0 still rejected (in {spool})\n",
        f"0 rejected record(s) in {spool}\n",
    )
