"""`majordomo credentials set|list|delete`: the provider keys the gateway holds for its clients.

A key is read from standard input (a prompt on a terminal), never from the command line, where `ps` and
shell history would show it; it is stored encrypted (secret_box.py) and shown afterwards only by its last
4 characters. Every running gateway picks a change up within `key_cache_ttl` seconds.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when the command runs: `majordomo --help` must not need the gateway extra
    from .providers import ProviderTable
    from .store import Store


def add_parser(sub: Any, database_flag: Any) -> argparse.ArgumentParser:
    cred: argparse.ArgumentParser = sub.add_parser(
        "credentials", help="provider keys the gateway sends upstream for its clients"
    )
    cred_sub = cred.add_subparsers(dest="credentials_command", required=True)
    put = cred_sub.add_parser("set", help="store a provider key (read from stdin), encrypted with MAJORDOMO_SECRET_KEY")
    put.add_argument("provider", help="provider table name: openai, anthropic, gemini, groq, ...")
    put.add_argument("--for-key", metavar="KEY_ID", help="only for this Majordomo key (`majordomo keys list`)")
    lst = cred_sub.add_parser("list", help="where each provider's key comes from (hints only, never the keys)")
    rm = cred_sub.add_parser("delete", help="delete a stored provider key")
    rm.add_argument("provider")
    rm.add_argument("--for-key", metavar="KEY_ID")
    for parser in (put, lst, rm):
        database_flag(parser)
    return cred


def _table(settings: Any) -> ProviderTable:
    from .providers import ProviderTable

    return ProviderTable.build(settings.base_urls(), settings.providers)


def _provider_name(table: ProviderTable, name: str) -> str:
    provider = table.get(name.strip().lower())
    if provider is None:
        raise ValueError(f"unknown provider {name!r}: use one of {', '.join(table.names)}")
    return table.credential_owner(provider).name


def _read_key() -> str:
    key = (getpass.getpass("provider key (not shown): ") if sys.stdin.isatty() else sys.stdin.readline()).strip()
    if not key:
        raise ValueError(
            "no provider key on standard input: pipe it in, e.g. `printenv OPENAI_API_KEY | majordomo ...`"
        )
    return key


async def run(args: argparse.Namespace, settings: Any) -> int:
    from .credentials import delete_credential, list_credentials, set_credential
    from .secret_box import SECRET_ENV, load_secret_box
    from .store import open_store

    table = _table(settings)
    command = args.credentials_command
    provider = _provider_name(table, args.provider) if command != "list" else None
    box = load_secret_box()
    if command == "set" and box is None:
        raise ValueError(
            f"{SECRET_ENV} is not set: it encrypts stored provider keys, and every gateway needs the same one "
            "(e.g. `export MAJORDOMO_SECRET_KEY=$(openssl rand -base64 32)`, kept in your secret manager)"
        )
    key = _read_key() if command == "set" else None
    store = open_store(settings.database_url)
    await store.open()
    try:
        await store.migrate()
        if command == "set":
            assert box is not None
            assert key is not None
            assert provider is not None
            await _check_key_id(store, args.for_key)
            info = await set_credential(store, box, provider, key, api_key_id=args.for_key)
            scope = f"Majordomo key {args.for_key}" if args.for_key else "every Majordomo key"
            print(
                f"stored {provider} key …{info.key_hint} for {scope}; running gateways use it within "
                f"{settings.key_cache_ttl:g} s"
            )
        elif command == "delete":
            assert provider is not None
            if not await delete_credential(store, provider, api_key_id=args.for_key):
                print(f"no stored {provider} key{' for ' + args.for_key if args.for_key else ''}", file=sys.stderr)
                return 1
            print(f"deleted the stored {provider} key{' for ' + args.for_key if args.for_key else ''}")
        else:
            rows = await list_credentials(store, table)
            print(f"{'provider':16}  {'for key':36}  {'hint':8}  {'source':32}  updated")
            for row in rows:
                updated = row.updated_at.isoformat(timespec="seconds") if row.updated_at else "-"
                scope = row.api_key_id or "every key"
                print(f"{row.provider:16}  {scope:36}  …{row.key_hint:7}  {row.source:32}  {updated}")
        return 0
    finally:
        await store.close()


async def _check_key_id(store: Store, key_id: str | None) -> None:
    if key_id is None:
        return
    if not any(k.id == key_id for k in await store.list_api_keys()):
        raise ValueError(f"no Majordomo key {key_id!r}: see `majordomo keys list`")
