"""Where records go: SQLite or PostgreSQL behind one `Store` interface, fed by one `RecordWriter` per process.

store = open_store(os.environ.get("MAJORDOMO_DATABASE_URL", DEFAULT_DATABASE_URL))
await store.open(); await store.migrate()
writer = RecordWriter(store, spool_dir=default_spool_dir(url)); await writer.start()
writer.submit(record)            # hot path: sync, O(1), never raises
writer.stats()                   # for /readyz
await writer.close(); await store.close()

`PostgresStore` is imported on first use (asyncpg is in the `postgres` extra): without it, opening a
`postgresql://` URL raises `MissingDatabaseDriver`, naming the install line.
"""

from typing import TYPE_CHECKING

from majordomo_otel.gateway.store._base import ApiKey, Dialect, Store
from majordomo_otel.gateway.store._factory import (
    DEFAULT_DATABASE_URL,
    MissingDatabaseDriver,
    UnsupportedDatabaseURL,
    default_spool_dir,
    migrate,
    open_store,
    postgres_store_class,
    require_database,
)
from majordomo_otel.gateway.store._schema import SCHEMA_VERSION
from majordomo_otel.gateway.store._sqlite import SQLiteStore
from majordomo_otel.gateway.store._writer import RecordWriter, WriterStats

if TYPE_CHECKING:
    from majordomo_otel.gateway.store._postgres import PostgresStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SCHEMA_VERSION",
    "ApiKey",
    "Dialect",
    "MissingDatabaseDriver",
    "PostgresStore",
    "RecordWriter",
    "SQLiteStore",
    "Store",
    "UnsupportedDatabaseURL",
    "WriterStats",
    "default_spool_dir",
    "migrate",
    "open_store",
    "require_database",
]


def __getattr__(name: str) -> object:
    if name == "PostgresStore":
        return postgres_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
