"""The small interface every record sink implements, and the API key row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from majordomo_otel.gateway.record import RequestRecord

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored Majordomo API key: its hash and a hint, never the key itself."""

    id: str
    name: str
    key_hash: str
    key_hint: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@runtime_checkable
class Store(Protocol):
    """A record sink. `write_batch` is idempotent: a record id already stored is silently skipped."""

    dialect: Dialect
    #: human-readable target with no password, for logs and /readyz
    display_url: str

    async def open(self) -> None: ...
    async def migrate(self) -> int:
        """Bring the schema to the current version (idempotent); return that version."""
        ...

    async def write_batch(self, records: Sequence[RequestRecord]) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...

    def is_permanent_error(self, exc: BaseException) -> bool:
        """True when retrying `write_batch` cannot help (bad data), False for outages."""
        ...

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a SELECT; placeholders are the dialect's own (`?` for SQLite, `$1` for PostgreSQL)."""
        ...

    async def get_records(self, ids: Sequence[str] | None = None) -> list[RequestRecord]:
        """Stored records (all, or those ids), ordered by requested_at then id."""
        ...

    async def insert_api_key(self, key: ApiKey) -> None: ...
    async def list_api_keys(self) -> list[ApiKey]: ...
    async def api_keys_by_hash(self) -> dict[str, ApiKey]:
        """Every key, revoked ones too, by `key_hash`: the table auth answers from. Cheap and quick: it
        must not wait behind record writes, and it fails rather than hang for long on a stuck database."""
        ...

    async def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark the key revoked (keeping the first revocation time); None if there is no such key."""
        ...
