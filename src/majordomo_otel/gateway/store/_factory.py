"""`MAJORDOMO_DATABASE_URL` → a store, its default spool folder, and the CLI's `migrate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from majordomo_otel.gateway.store._base import Store
from majordomo_otel.gateway.store._sqlite import SQLiteStore

if TYPE_CHECKING:
    from majordomo_otel.gateway.store._postgres import PostgresStore

DEFAULT_DATABASE_URL = "sqlite:///./majordomo.db"
_PG_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_INSTALL = 'pip install "majordomo-otel[gateway,postgres]"'


class UnsupportedDatabaseURL(ValueError):
    pass


class MissingDatabaseDriver(UnsupportedDatabaseURL, ImportError):
    """The URL is fine but its driver is not installed (the `postgres` extra). An `ImportError`, and a
    `ValueError` like every bad URL, so the CLI prints its one line instead of a traceback."""


def postgres_store_class() -> type[PostgresStore]:
    """`PostgresStore`, imported on first use: asyncpg is in the `postgres` extra, not in `gateway`."""
    try:
        from majordomo_otel.gateway.store._postgres import PostgresStore
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "asyncpg":
            raise
        raise MissingDatabaseDriver(
            f"PostgreSQL database URLs need the asyncpg driver, which is not installed: {POSTGRES_INSTALL}"
        ) from exc
    return PostgresStore


def _sqlite_path(url: str) -> str:
    path = url[len("sqlite:///") :]
    if not path:
        raise UnsupportedDatabaseURL(f"{url!r}: no file path (use sqlite:///relative.db or sqlite:////abs/path.db)")
    return path


def require_database(url: str) -> None:
    """For commands that only read or delete: a mistyped SQLite path must not become a new empty database
    (`sqlite3.connect` would create one). Raises `ValueError` naming the path and the settings to check."""
    if url.startswith("sqlite:///"):
        path = Path(_sqlite_path(url))
        if str(path) != ":memory:" and not path.exists():
            raise ValueError(f"no database at {path} (set --database-url or MAJORDOMO_DATABASE_URL)")


def open_store(url: str, **options: Any) -> Store:
    """The store for `url` (not yet opened: `await store.open()`).

    `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `postgresql://…` or `postgres://…`
    (`?schema=name` selects a PostgreSQL schema). `options` go to the store's constructor.
    """
    if url.startswith("sqlite:///"):
        return SQLiteStore(_sqlite_path(url), **options)
    if url.startswith(_PG_SCHEMES):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in query if k == "schema"), None)
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        dsn = urlunsplit(parts._replace(query=rest))
        if schema is not None:
            options.setdefault("schema", schema)
        return postgres_store_class()(dsn, **options)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise UnsupportedDatabaseURL(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///path.db, sqlite:////abs/path.db "
        "or postgresql://user@host:port/db"
    )


def default_spool_dir(url: str) -> Path:
    """A folder beside the database: `<db file>.spool/` for SQLite, `./majordomo-spool/` for PostgreSQL."""
    if url.startswith("sqlite:///"):
        path = _sqlite_path(url)
        if path != ":memory:":
            return Path(path + ".spool")
    return Path("majordomo-spool")


async def migrate(url: str = DEFAULT_DATABASE_URL) -> int:
    """`majordomo migrate`: create or upgrade the schema at `url`; idempotent. Returns the schema version."""
    store = open_store(url)
    await store.open()
    try:
        return await store.migrate()
    finally:
        await store.close()
