"""`majordomo migrate` and `majordomo keys create|list|revoke`, run as a user runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dirty_equals import IsStr

from majordomo_otel.cli import main
from majordomo_otel.gateway.keys import hash_key


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = _run(capsys, "migrate", "--database-url", url)
    second = _run(capsys, "migrate", "--database-url", url)
    assert first == second == (0, IsStr(regex=r"schema at version \d+: sqlite:///.*m\.db\n"), "")
    tables = {row[0] for row in sqlite3.connect(tmp_path / "m.db").execute("SELECT name FROM sqlite_master")}
    assert {"llm_requests", "majordomo_api_keys"} <= tables


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "k.db"
    code, out, err = _run(capsys, "keys", "create", "ci-bot", "--database-url", f"sqlite:///{db}")  # flag after
    key = out.strip()
    assert (code, key) == (0, IsStr(regex=r"mdm_sk_[A-Za-z0-9_-]{32,}"))
    assert err == IsStr(regex=r"created key \S+ \(ci-bot\); store it now, it is not shown again\n")
    raw = db.read_bytes() + (db.with_name("k.db-wal").read_bytes() if db.with_name("k.db-wal").exists() else b"")
    assert key.encode() not in raw
    [(stored_hash,)] = sqlite3.connect(db).execute("SELECT key_hash FROM majordomo_api_keys").fetchall()
    assert stored_hash == hash_key(key)


def test_keys_list_shows_hints_never_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    _, out, _ = _run(capsys, "keys", "create", "alpha", "--database-url", url)
    key = out.strip()
    code, listing, _ = _run(capsys, "keys", "list", "--database-url", url)
    assert code == 0
    assert key not in listing
    assert listing.splitlines()[1] == IsStr(regex=rf"\S{{36}}  alpha\s+…{key[-4:]}\s+\S+\s+-")


def test_keys_revoke_marks_the_key_revoked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    _run(capsys, "keys", "create", "alpha", "--database-url", url)
    [(key_id,)] = sqlite3.connect(tmp_path / "k.db").execute("SELECT id FROM majordomo_api_keys").fetchall()
    assert _run(capsys, "keys", "revoke", key_id, "--database-url", url) == (0, f"revoked {key_id} (alpha)\n", "")
    _, listing, _ = _run(capsys, "keys", "list", "--database-url", url)
    assert listing.splitlines()[1] == IsStr(regex=r".*alpha.*\d{4}-\d\d-\d\dT\S+$")  # revoked_at, not "-"


def test_revoking_an_unknown_key_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert _run(capsys, "migrate", "--database-url", url)[0] == 0
    assert _run(capsys, "keys", "revoke", "nope", "--database-url", url) == (1, "", "no key nope\n")


def test_listing_keys_where_there_is_no_database_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nothing-here.db"
    code, out, err = _run(capsys, "keys", "list", "--database-url", f"sqlite:///{path}")
    assert (code, out, err, path.exists()) == (
        2,
        "",
        f"majordomo keys: no database at {path} (set --database-url or MAJORDOMO_DATABASE_URL)\n",
        False,
    )


def test_keys_work_on_postgresql(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "keys", "create", "pg-key", "--database-url", pg_url)
    assert (code, out.strip()) == (0, IsStr(regex=r"mdm_sk_\S+"))
    _, listing, _ = _run(capsys, "keys", "list", "--database-url", pg_url)
    assert "pg-key" in listing
    assert out.strip() not in listing


def test_an_unsupported_database_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "migrate", "--database-url", "mysql://localhost/db")
    assert (code, out) == (2, "")
    assert err == IsStr(regex=r"majordomo migrate: unsupported database URL scheme 'mysql'.*\n")
