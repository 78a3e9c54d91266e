"""`majordomo`: gateway, migrate, keys, credentials, records, costs, sim, demo.

Heavy imports (aiohttp, the store drivers) happen inside each command, so `majordomo --help`
is instant and the client half never pulls in the gateway. A command that fails says so in one line
(what failed, what to do) with exit code 1; `--verbose` or `MAJORDOMO_LOG_LEVEL=DEBUG` adds the
traceback. No command prints a password.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from . import wire
from ._explain import explain
from ._redact import hide_password


def _settings(args: argparse.Namespace) -> Any:
    from .gateway.settings import load_settings

    return load_settings(vars(args))


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="sqlite:///path or postgresql://... [env MAJORDOMO_DATABASE_URL]")
    parser.add_argument("--config", help="TOML config file [env MAJORDOMO_CONFIG]")


def cmd_gateway(args: argparse.Namespace) -> int:
    from .gateway.serve import configure_logging, serve

    settings = _settings(args)
    configure_logging(settings.log_level)
    if settings.workers > 1:
        from .gateway.workers import supervise

        return supervise(settings, verbose=args.verbose)
    serve(settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .gateway.store import open_store

    settings = _settings(args)

    async def run() -> int:
        store = open_store(settings.database_url)
        await store.open()
        try:
            return await store.migrate()
        finally:
            await store.close()

    version = asyncio.run(run())
    print(f"schema at version {version}: {hide_password(settings.database_url)}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from .gateway import keys as keys_mod
    from .gateway.store import open_store

    settings = _settings(args)
    if args.keys_command != "create":
        _require_database(settings.database_url)  # listing or revoking must not create an empty database

    async def run() -> int:
        store = open_store(settings.database_url)
        await store.open()
        await store.migrate()
        try:
            if args.keys_command == "create":
                key, row = await keys_mod.create_key(store, args.name)
                print(key)
                print(f"created key {row.id} ({row.name}); store it now, it is not shown again", file=sys.stderr)
            elif args.keys_command == "list":
                rows = await store.list_api_keys()
                print(f"{'id':36}  {'name':20}  {'hint':10}  {'created':25}  revoked")
                for row in rows:
                    print(
                        f"{row.id:36}  {row.name:20}  …{row.key_hint:9}  {row.created_at.isoformat():25}  "
                        f"{row.revoked_at.isoformat() if row.revoked_at else '-'}"
                    )
            elif args.keys_command == "revoke":
                revoked = await keys_mod.revoke_key(store, args.key_id)
                if revoked is None:
                    print(f"no key {args.key_id}", file=sys.stderr)
                    return 1
                print(f"revoked {revoked.id} ({revoked.name})")
            return 0
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_records(args: argparse.Namespace) -> int:
    from .gateway.spool_slots import spool_folders, spool_root
    from .gateway.store import open_store
    from .gateway.store._rejected import ImportResult, import_rejected, read_rejected

    settings = _settings(args)
    if args.records_command == "prune":
        return _prune_records(args, settings.database_url)
    spool = spool_root(settings)
    folders = spool_folders(spool)  # with --workers N, each worker's folder holds its own rejected records
    if args.records_command == "rejected":
        entries = [entry for folder in folders for entry in read_rejected(folder)]
        print(f"{'id':36}  {'requested at (UTC)':26}  {'provider':10}  {'model':24}  why")
        for e in entries:
            r = e.record
            when = r.requested_at.isoformat(timespec="seconds") if r is not None else "-"
            print(
                f"{r.id if r else '-':36}  {when:26}  {(r.provider or '-') if r else '-':10}  "
                f"{((r.model or r.request_model or '-') if r else '-')[:24]:24}  {e.error}"
            )
        hint = "; `majordomo records import` retries them" if entries else ""
        print(f"{len(entries)} rejected record(s) in {spool}{hint}", file=sys.stderr)
        return 0

    async def run() -> int:
        store = open_store(settings.database_url)
        await store.open()
        try:
            await store.migrate()
            result = ImportResult(0, 0)
            for folder in folders:
                done = await import_rejected(store, folder)
                result = ImportResult(result.imported + done.imported, result.still_rejected + done.still_rejected)
        finally:
            await store.close()
        print(f"imported {result.imported} record(s); {result.still_rejected} still rejected (in {spool})")
        return 1 if result.still_rejected else 0

    return asyncio.run(run())


def _prune_records(args: argparse.Namespace, url: str) -> int:
    from datetime import UTC, datetime

    from .gateway.store import open_store
    from .gateway.store._retention import Removal, parse_cut, plan, prune

    cut = parse_cut(args.before, args.keep_months, now=datetime.now(UTC))
    _require_database(url)

    shown: list[Removal] = []

    def show(item: Removal) -> None:  # as each month goes, so what went is on screen if a later one fails
        if not shown:
            print(f"{'month':7}  {'records':>12}  {'would go' if args.dry_run else 'removed'}")
        shown.append(item)
        print(f"{f'{item.month:%Y-%m}' if item.month else '-':7}  {item.records:>12,}  {item.action}", flush=True)

    async def run() -> list[Removal]:
        store = open_store(url)
        await store.open()
        try:
            if args.dry_run:
                items = await plan(store, cut)
                for item in items:
                    show(item)
                return items
            return await prune(store, cut, done=show)
        finally:
            await store.close()

    items = asyncio.run(run())
    total = f"{sum(i.records for i in items):,} record(s) before {cut:%Y-%m-%d} (UTC) in {hide_password(url)}"
    print(f"{'would remove' if args.dry_run else 'removed'} {total}" + ("; nothing changed" if args.dry_run else ""))
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from .gateway import credentials_cli

    settings = _settings(args)
    if args.credentials_command != "set":
        _require_database(settings.database_url)
    return asyncio.run(credentials_cli.run(args, settings))


def cmd_budgets(args: argparse.Namespace) -> int:
    from .gateway.budgets._cli import run

    return run(args, _settings(args))


def cmd_costs(args: argparse.Namespace) -> int:
    from .costs import run_costs

    return run_costs(args, _settings(args))


def cmd_sim(args: argparse.Namespace) -> int:
    from .sim._cli import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _require_database(url: str) -> None:
    from .gateway.store import require_database

    require_database(url)


def build_parser() -> argparse.ArgumentParser:
    from .gateway.settings import add_arguments

    parser = argparse.ArgumentParser(prog="majordomo", description="LLM cost attribution gateway and tools")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--verbose", action="store_true", help="show the traceback when a command fails")
    sub = parser.add_subparsers(dest="command", required=True)

    gw = sub.add_parser("gateway", help="run the gateway (default 127.0.0.1:7680)")
    add_arguments(gw)
    gw.set_defaults(func=cmd_gateway)

    mig = sub.add_parser("migrate", help="create or upgrade the llm_requests schema")
    _database_flag(mig)
    mig.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help=f"manage {wire.KEY} API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("name")
    _database_flag(create)
    lst = keys_sub.add_parser("list", help="list keys (hints only, never the keys)")
    _database_flag(lst)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    _database_flag(revoke)
    keys.set_defaults(func=cmd_keys)

    records = sub.add_parser("records", help="refused records (show, import again) and retention (prune months)")
    records_sub = records.add_subparsers(dest="records_command", required=True)
    for name, text in (
        ("rejected", "list rejected records (spool folder's rejected.jsonl)"),
        ("import", "insert rejected records again, their text made storable; what still fails stays"),
    ):
        cmd = records_sub.add_parser(name, help=text)
        _database_flag(cmd)
        cmd.add_argument("--spool-dir", help="the gateway's spool folder [env MAJORDOMO_SPOOL_DIR]")
    prune = records_sub.add_parser("prune", help="remove whole months of records before a cut (retention)")
    cut = prune.add_mutually_exclusive_group(required=True)
    cut.add_argument("--before", metavar="YYYY-MM", help="remove every record before this month (UTC)")
    cut.add_argument("--keep-months", type=int, metavar="N", help="keep the current month and the N before it")
    prune.add_argument("--dry-run", action="store_true", help="list what would go, month by month; change nothing")
    _database_flag(prune)
    records.set_defaults(func=cmd_records)

    from .gateway.credentials_cli import add_parser as credentials_parser

    credentials_parser(sub, _database_flag).set_defaults(func=cmd_credentials)

    from .gateway.budgets._cli import add_parser as budgets_parser  # argparse only

    budgets_parser(sub, _database_flag).set_defaults(func=cmd_budgets)

    costs = sub.add_parser("costs", help="cost totals by feature, step, user, session, model, provider")
    _database_flag(costs)
    costs.add_argument("--by", default="feature", help="comma list of feature,step,user,session,model,provider")
    costs.add_argument("--since", help="start of window: ISO time or a duration like 24h, 7d (default: all)")
    costs.add_argument("--until", help="end of window: ISO time (default: now)")
    costs.add_argument("--trace", help="the records of one trace id and their total")
    costs.add_argument("--budgets", action="store_true", help="each budget's use of its window (as budgets list)")
    fmt = costs.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", dest="format", const="json")
    fmt.add_argument("--csv", action="store_const", dest="format", const="csv")
    costs.set_defaults(func=cmd_costs, format="table")

    sim = sub.add_parser("sim", help="run the local stand-in provider (OpenAI, Anthropic, Gemini)")
    from .sim._cli import build_parser as sim_parser  # argparse only: no aiohttp import here

    sim_parser(sim)
    sim.set_defaults(func=cmd_sim)

    demo = sub.add_parser("demo", help="gateway + stand-in providers + a tagged agent workflow, then costs")
    demo.add_argument("--keep", action="store_true", help="keep the demo database instead of a temp dir")
    demo.add_argument("--db", metavar="PATH", help="SQLite file for the demo database (implies --keep)")
    demo.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("majordomo-otel")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.verbose or os.environ.get("MAJORDOMO_LOG_LEVEL", "").upper() == "DEBUG":
            traceback.print_exc()
        print(f"majordomo {args.command}: {explain(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


if __name__ == "__main__":
    raise SystemExit(main())
