"""SQLite sink: one connection owned by one worker thread, one transaction per batch.

The stdlib `sqlite3` module blocks, so every call runs on a dedicated single-thread executor: the event
loop never waits on disk, and the connection is only ever touched by the thread that made it. Auth's key
reads have a second connection and thread of their own: behind a batch waiting on a locked file
(`busy_timeout`, 5 s) they would stall every check, while in WAL mode a reader needs no lock at all.
WAL mode with `synchronous=NORMAL`: a committed batch survives a process crash; on power loss the last
few transactions since the WAL was synced may be lost (the OS decides), which is the usual SQLite trade.
"""

from __future__ import annotations

import asyncio
import json
import operator
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from majordomo_otel.gateway.record import COLUMNS, RequestRecord
from majordomo_otel.gateway.store._base import ApiKey, Dialect
from majordomo_otel.gateway.store._codec import json_text, parse_utc, utc_text
from majordomo_otel.gateway.store._schema import migration_statements, pending_versions, version_table

T = TypeVar("T")

_INSERT = (
    f"INSERT INTO llm_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM llm_requests"
_KEY_COLS = "id, name, key_hash, key_hint, created_at, revoked_at"


def _cost_in(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _cost_out(value: float | None) -> Decimal | None:
    # repr() is the shortest text that round-trips the float, so Decimal("0.0001851") comes back equal.
    return None if value is None else Decimal(repr(value))


def _dt_in(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def _dt_out(value: str | None) -> datetime | None:
    return None if value is None else parse_utc(value)


_IN: dict[str, Callable[[Any], Any]] = {
    "requested_at": _dt_in,
    "responded_at": _dt_in,
    "streamed": int,
    "input_cost": _cost_in,
    "output_cost": _cost_in,
    "total_cost": _cost_in,
    "raw_metadata": json_text,
}
_OUT: dict[str, Callable[[Any], Any]] = {
    "requested_at": _dt_out,
    "responded_at": _dt_out,
    "streamed": bool,
    "input_cost": _cost_out,
    "output_cost": _cost_out,
    "total_cost": _cost_out,
    "raw_metadata": json.loads,
}
_IN_PLAN = tuple(_IN.get(name) for name in COLUMNS)
_OUT_PLAN = tuple((name, _OUT.get(name)) for name in COLUMNS)


_GET_ALL = operator.attrgetter(*COLUMNS)
_CONVERTED = tuple((index, conv) for index, conv in enumerate(_IN_PLAN) if conv is not None)


def record_params(record: RequestRecord) -> tuple[Any, ...]:
    # One C-level attrgetter, then only the few columns that need converting: this runs per record.
    values = list(_GET_ALL(record))
    for index, conv in _CONVERTED:
        if (value := values[index]) is not None:
            values[index] = conv(value)
    return tuple(values)


def row_record(row: Sequence[Any]) -> RequestRecord:
    kwargs = {
        name: (conv(value) if conv is not None and value is not None else value)
        for (name, conv), value in zip(_OUT_PLAN, row, strict=True)
    }
    return RequestRecord(**kwargs)


def _key_from_row(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        id=row[0],
        name=row[1],
        key_hash=row[2],
        key_hint=row[3],
        created_at=parse_utc(row[4]),
        revoked_at=_dt_out(row[5]),
    )


class SQLiteStore:
    """`sqlite:///relative.db` or `sqlite:////abs/path.db`."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000, keys_busy_timeout_ms: int = 250) -> None:
        self.path = Path(path)
        self.display_url = f"sqlite:///{self.path}"
        self._busy_timeout_ms = busy_timeout_ms
        self._keys_busy_timeout_ms = keys_busy_timeout_ms  # a key read fails fast rather than hold up auth
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._keys_executor: ThreadPoolExecutor | None = None
        self._keys_conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, keys: bool = False) -> T:
        executor, conn = (self._keys_executor, self._keys_conn) if keys else (self._executor, self._conn)
        if executor is None or conn is None:
            raise RuntimeError("SQLiteStore is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, fn, conn)

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    async def open(self) -> None:
        if self._executor is not None:
            return
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="majordomo-sqlite")
        try:
            self._conn = await loop.run_in_executor(self._executor, self._connect, self._busy_timeout_ms)
            if str(self.path) == ":memory:":  # a second connection would open another, empty database
                self._keys_executor, self._keys_conn = self._executor, self._conn
                return
            self._keys_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="majordomo-sqlite-keys")
            self._keys_conn = await loop.run_in_executor(self._keys_executor, self._connect, self._keys_busy_timeout_ms)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        workers = [(self._executor, self._conn)]
        if self._keys_executor is not self._executor:  # `:memory:` has the one
            workers.append((self._keys_executor, self._keys_conn))
        self._executor = self._keys_executor = None
        self._conn = self._keys_conn = None
        for executor, conn in workers:
            if executor is None:
                continue
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)

    async def migrate(self, *, target: int | None = None) -> int:
        """Bring the schema to `target` (default: the latest)."""

        def migrate(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")  # one migrator at a time across processes
            try:
                conn.execute(version_table("sqlite"))
                current = conn.execute("SELECT MAX(version) FROM majordomo_schema_version").fetchone()[0] or 0
                for version in pending_versions(current):
                    if target is not None and version > target:
                        break
                    for stmt in migration_statements("sqlite", version):
                        conn.execute(stmt)
                    conn.execute(
                        "INSERT INTO majordomo_schema_version (version, applied_at) VALUES (?, ?)",
                        (version, utc_text(datetime.now().astimezone())),
                    )
                    current = version
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(current)

        return await self._run(migrate)

    async def write_batch(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        params = [record_params(r) for r in records]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN")
            try:
                conn.executemany(_INSERT, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(write)

    async def ping(self) -> bool:
        try:
            return await self._run(lambda conn: conn.execute("SELECT 1").fetchone()[0] == 1)
        except Exception:
            return False

    def is_permanent_error(self, exc: BaseException) -> bool:
        # Locked/busy/disk-full/IO errors are OperationalError: worth retrying. Bad values are not.
        return isinstance(
            exc, sqlite3.IntegrityError | sqlite3.InterfaceError | sqlite3.DataError | TypeError | ValueError
        ) and not isinstance(exc, sqlite3.OperationalError)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute(sql, tuple(params))
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

        return await self._run(run)

    async def get_records(self, ids: Sequence[str] | None = None) -> list[RequestRecord]:
        def run(conn: sqlite3.Connection) -> list[RequestRecord]:
            if ids is None:
                rows = conn.execute(f"{_SELECT} ORDER BY requested_at, id").fetchall()
            else:
                marks = ", ".join("?" * len(ids))
                rows = conn.execute(f"{_SELECT} WHERE id IN ({marks}) ORDER BY requested_at, id", tuple(ids)).fetchall()
            return [row_record(r) for r in rows]

        return await self._run(run)

    async def insert_api_key(self, key: ApiKey) -> None:
        params = (
            key.id,
            key.name,
            key.key_hash,
            key.key_hint,
            utc_text(key.created_at),
            _dt_in(key.revoked_at),
        )
        await self._run(
            lambda conn: conn.execute(f"INSERT INTO majordomo_api_keys ({_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?)", params)
        )

    async def list_api_keys(self) -> list[ApiKey]:
        rows = await self._run(
            lambda conn: conn.execute(f"SELECT {_KEY_COLS} FROM majordomo_api_keys ORDER BY created_at, id").fetchall()
        )
        return [_key_from_row(r) for r in rows]

    async def api_keys_by_hash(self) -> dict[str, ApiKey]:
        def run(conn: sqlite3.Connection) -> dict[str, ApiKey]:  # rows become keys on the thread, not the loop
            return {row[2]: _key_from_row(row) for row in conn.execute(f"SELECT {_KEY_COLS} FROM majordomo_api_keys")}

        return await self._run(run, keys=True)

    async def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey | None:
        def run(conn: sqlite3.Connection) -> Any:
            conn.execute(
                "UPDATE majordomo_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (utc_text(at), key_id),
            )
            return conn.execute(f"SELECT {_KEY_COLS} FROM majordomo_api_keys WHERE id = ?", (key_id,)).fetchone()

        row = await self._run(run)
        return None if row is None else _key_from_row(row)

    async def delete_requests(self, start: datetime, end: datetime, *, limit: int) -> int:
        """Delete up to `limit` records with `start <= requested_at < end`, in one short transaction (retention
        calls it in a loop, so the gateway's writer is never locked out for long); how many went."""
        params = (utc_text(start), utc_text(end), limit)

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM llm_requests WHERE rowid IN (SELECT rowid FROM llm_requests "
                "WHERE requested_at >= ? AND requested_at < ? LIMIT ?)",
                params,
            )
            return cur.rowcount

        return await self._run(run)
