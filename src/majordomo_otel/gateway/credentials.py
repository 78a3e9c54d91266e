"""Provider keys held by the gateway, sent upstream in place of a client's Majordomo key.

Where a key comes from, first match wins, per (provider, Majordomo key):

1. the database, for that Majordomo key (`majordomo credentials set groq --for-key KEY_ID`): teams with
   their own provider accounts;
2. the database, for every key (`majordomo credentials set groq`), encrypted with the operator's secret
   (secret_box.py);
3. the environment: `MAJORDOMO_<PROVIDER>_API_KEY`, or the variable `api_key_env` names in
   `[providers.NAME]` of the config file (so the file itself holds no secret).

Stored keys are reloaded every `ttl` seconds in the background, so `credentials set` or `delete` reaches
every gateway process within that bound with no restart; a reload that fails keeps the last table, and no
request ever waits on the database for a key. Keys live only in memory here: never logged, never in a
record (rows carry `provider_api_key_hash`, a hash prefix), never returned by a command or an endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from .._tasks import stop_task
from .providers import Provider, ProviderTable
from .secret_box import SECRET_ENV, SecretBox, SecretKeyError
from .store import Store
from .store._codec import parse_utc, utc_text
from .store._credentials_schema import EVERY_KEY, TABLE

log = logging.getLogger("majordomo_otel.gateway.credentials")

_INITIAL_LOAD_SECONDS: Final = 2.0  # at start: a database that does not answer must not hold the gateway


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A listing row: where a provider key is configured, recognisable by its hint; never the key."""

    provider: str
    api_key_id: str | None  # None: every Majordomo key
    key_hint: str
    source: str  # "database" or the environment variable's name
    updated_at: datetime | None = None


class ProviderCredentials:
    """The keys the gateway may send upstream, by provider name and Majordomo key id."""

    def __init__(
        self,
        table: ProviderTable,
        store: Store | None,
        box: SecretBox | None,
        *,
        environ: Mapping[str, str] | None = None,
        ttl: float = 5.0,
    ) -> None:
        env = os.environ if environ is None else environ
        self._table = table
        self._store = store
        self._box = box
        self._ttl = ttl
        self._owner = {p.name: table.credential_owner(p).name for p in table}
        self._env = _environment_keys(table, env)  # provider → (variable, key)
        self._stored: dict[tuple[str, str], str] = {}  # (provider, api_key_id or EVERY_KEY) → key
        self._task: asyncio.Task[None] | None = None
        self._undecryptable_logged = False

    def key_for(self, provider: Provider, api_key_id: str | None) -> str | None:
        """The provider key for a request of this Majordomo key, or None. A dict lookup: no I/O."""
        name = self._owner.get(provider.name, provider.name)
        stored = self._stored
        if api_key_id is not None and (key := stored.get((name, api_key_id))) is not None:
            return key
        if (key := stored.get((name, EVERY_KEY))) is not None:
            return key
        env = self._env.get(name) or self._env.get(provider.name)
        return env[1] if env is not None else None

    def configured(self) -> list[str]:
        """Provider names with a key for every Majordomo key (for the start line): names only."""
        names = {p for p, k in self._stored if k == EVERY_KEY} | set(self._env)
        return sorted(names)

    async def start(self) -> None:
        """Load the stored keys (waiting at most 2 s), then keep them fresh in the background."""
        if self._store is None:
            return
        try:
            async with asyncio.timeout(_INITIAL_LOAD_SECONDS):
                await self.reload()
        except Exception as exc:
            log.warning("stored provider keys not loaded at start (%s); retrying every %.0f s", _kind(exc), self._ttl)
        if held := self.configured():
            log.info(
                "provider keys held for: %s (sent upstream for clients that send only their Majordomo key)",
                ", ".join(held),
            )
        self._task = asyncio.get_running_loop().create_task(self._refresh(), name="majordomo-credentials-refresh")

    async def close(self) -> None:
        await stop_task(self._task)

    async def reload(self) -> None:
        """Read the table once and swap it in whole (a request sees the old table or the new, never half)."""
        assert self._store is not None
        rows = await self._store.query(f"SELECT provider, api_key_id, ciphertext FROM {TABLE}")
        if rows and self._box is None:
            if not self._undecryptable_logged:
                log.error("%d provider key(s) stored but %s is not set: they are not used", len(rows), SECRET_ENV)
                self._undecryptable_logged = True
            self._stored = {}
            return
        table: dict[tuple[str, str], str] = {}
        for row in rows:
            assert self._box is not None
            try:
                table[(row["provider"], row["api_key_id"])] = self._box.decrypt(row["ciphertext"])
            except SecretKeyError as exc:
                if not self._undecryptable_logged:
                    log.error("stored key for %s not used: %s", row["provider"], exc)
                    self._undecryptable_logged = True
        self._stored = table

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._ttl)
            try:
                async with asyncio.timeout(max(self._ttl, 1.0)):
                    await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the last table: a database outage must not drop keys
                log.debug("provider keys reload failed (%s); keeping the last ones", _kind(exc))


def _kind(exc: BaseException) -> str:
    """An error's type and message, which never contain a key (queries carry no key values)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# --- management (the `majordomo credentials` command and scripts) -----------------------------------------

_HINT_MIN_CHARS: Final = 16


def key_hint(key: str) -> str:
    """The last 4 characters, to recognise a key in listings; nothing of a key too short to spare them."""
    return key[-4:] if len(key) >= _HINT_MIN_CHARS else "????"


def _marks(store: Store, n: int) -> list[str]:
    return ["?"] * n if store.dialect == "sqlite" else [f"${i}" for i in range(1, n + 1)]


def _when(store: Store, at: datetime) -> Any:
    return utc_text(at) if store.dialect == "sqlite" else at


async def set_credential(
    store: Store, box: SecretBox, provider: str, key: str, *, api_key_id: str | None = None
) -> CredentialInfo:
    """Store (or replace) a provider key, encrypted; returns its listing row."""
    key = key.strip()
    if not key:
        raise ValueError("the provider key is empty")
    scope = api_key_id or EVERY_KEY
    now = datetime.now(UTC)
    m = _marks(store, 5)
    await store.query(
        f"INSERT INTO {TABLE} (provider, api_key_id, ciphertext, key_hint, updated_at) "
        f"VALUES ({', '.join(m)}) ON CONFLICT (provider, api_key_id) DO UPDATE SET "
        "ciphertext = excluded.ciphertext, key_hint = excluded.key_hint, updated_at = excluded.updated_at",
        [provider, scope, box.encrypt(key), key_hint(key), _when(store, now)],
    )
    return CredentialInfo(provider, api_key_id, key_hint(key), "database", now)


async def delete_credential(store: Store, provider: str, *, api_key_id: str | None = None) -> bool:
    m = _marks(store, 2)
    rows = await store.query(
        f"DELETE FROM {TABLE} WHERE provider = {m[0]} AND api_key_id = {m[1]} RETURNING provider",
        [provider, api_key_id or EVERY_KEY],
    )
    return bool(rows)


async def list_credentials(
    store: Store | None, table: ProviderTable, environ: Mapping[str, str] | None = None
) -> list[CredentialInfo]:
    """Every configured provider key, by hint: the database's, then the environment's."""
    env = os.environ if environ is None else environ
    out: list[CredentialInfo] = []
    if store is not None:
        rows = await store.query(
            f"SELECT provider, api_key_id, key_hint, updated_at FROM {TABLE} ORDER BY provider, api_key_id"
        )
        for row in rows:
            at = row["updated_at"]
            out.append(
                CredentialInfo(
                    row["provider"],
                    row["api_key_id"] or None,
                    row["key_hint"],
                    "database",
                    parse_utc(at) if isinstance(at, str) else at,
                )
            )
    for name, (variable, value) in _environment_keys(table, env).items():
        out.append(CredentialInfo(name, None, key_hint(value), variable))
    return out


def _environment_keys(table: ProviderTable, env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """provider name → (environment variable, key) for every provider whose variable is set."""
    return {p.name: (p.credential_env, value) for p in table if (value := env.get(p.credential_env, "").strip())}
