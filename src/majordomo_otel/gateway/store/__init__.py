"""Where records go: SQLite or PostgreSQL behind one `Store` interface, fed by one `RecordWriter` per process.

store = open_store(os.environ.get("MAJORDOMO_DATABASE_URL", DEFAULT_DATABASE_URL))
await store.open(); await store.migrate()
writer = RecordWriter(store, spool_dir=default_spool_dir(url)); await writer.start()
writer.submit(record)            # hot path: sync, O(1), never raises
writer.stats()                   # for /readyz
await writer.close(); await store.close()
"""

from majordomo_otel.gateway.store._base import ApiKey, Dialect, Store
from majordomo_otel.gateway.store._factory import (
    DEFAULT_DATABASE_URL,
    UnsupportedDatabaseURL,
    default_spool_dir,
    migrate,
    open_store,
)
from majordomo_otel.gateway.store._postgres import PostgresStore
from majordomo_otel.gateway.store._schema import SCHEMA_VERSION
from majordomo_otel.gateway.store._sqlite import SQLiteStore
from majordomo_otel.gateway.store._writer import RecordWriter, WriterStats

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SCHEMA_VERSION",
    "ApiKey",
    "Dialect",
    "PostgresStore",
    "RecordWriter",
    "SQLiteStore",
    "Store",
    "UnsupportedDatabaseURL",
    "WriterStats",
    "default_spool_dir",
    "migrate",
    "open_store",
]
