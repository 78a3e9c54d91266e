"""`majordomo budgets create|list|delete`: the one part of budgets that touches the process (arguments,
stdout, exit code). Bad input is a `BudgetError`, which `majordomo` prints as its one line (exit 2)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from majordomo_otel.gateway.settings import Settings
    from majordomo_otel.gateway.store import Store


def add_parser(sub: Any, database_flag: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """`budgets` and its commands on `majordomo`'s subparsers (argparse only: nothing heavy is imported)."""
    budgets: argparse.ArgumentParser = sub.add_parser(
        "budgets", help="spend limits per tag, key, provider or model, per day, week or month"
    )
    commands = budgets.add_subparsers(dest="budgets_command", required=True)
    create = commands.add_parser(
        "create",
        help="create a budget",
        description="Example: majordomo budgets create research-per-user feature=research 'user_id=*' "
        "--limit 5 --window day",
    )
    create.add_argument("name")
    create.add_argument(
        "scope",
        nargs="+",
        metavar="NAME=VALUE",
        help="conditions, all of which must match: feature, step, user_id, session_id, tag.NAME, key (a key's "
        "name), provider, model; VALUE * is each distinct value separately (quote it in a shell)",
    )
    create.add_argument("--limit", required=True, metavar="USD", help="spend limit per window, in USD (more than 0)")
    create.add_argument("--window", required=True, choices=("day", "week", "month"), help="calendar window")
    create.add_argument("--timezone", default="UTC", help="IANA time zone the window's days start in (default UTC)")
    create.add_argument("--mode", default="block", choices=("block", "warn"), help="block (429) or warn (mark only)")
    database_flag(create)
    lst = commands.add_parser("list", help="budgets, their spend this window, share used and when they reset")
    lst.add_argument("--json", action="store_true", help="JSON, costs as exact decimal strings")
    database_flag(lst)
    delete = commands.add_parser("delete", help="delete a budget and its spend")
    delete.add_argument("name")
    database_flag(delete)
    return budgets


async def _with_store(url: str, work: Callable[[Store], Awaitable[int]], *, migrate: bool = True) -> int:
    from majordomo_otel.gateway.store import open_store

    store = open_store(url)
    await store.open()
    try:
        if migrate:
            await store.migrate()
        return await work(store)
    finally:
        await store.close()


def print_usage(url: str, *, as_json: bool = False, migrate: bool = True) -> int:
    """Budget use now, as `budgets list` and `costs --budgets` (which never migrates) print it."""
    from majordomo_otel.gateway.store._budgets_schema import BUDGETS

    from . import budget_usage
    from ._render import render_json, render_table

    async def show(store: Store) -> int:
        now = datetime.now(UTC)
        try:
            usage = await budget_usage(store, now=now.timestamp())
        except Exception as exc:
            if BUDGETS in str(exc) and ("no such table" in str(exc) or "does not exist" in str(exc)):
                raise ValueError(
                    f"no budgets in {store.display_url} yet: start the gateway or run `majordomo migrate`"
                ) from exc
            raise
        sys.stdout.write(render_json(usage) if as_json else render_table(usage, now))
        return 0

    return asyncio.run(_with_store(url, show, migrate=migrate))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from majordomo_otel.gateway.store import require_database

    from . import Budget, add_budget, delete_budget

    url = settings.database_url
    if args.budgets_command == "list":
        require_database(url)  # listing or deleting must not create an empty database
        return print_usage(url, as_json=args.json)
    if args.budgets_command == "create":  # validated before any database is opened (or created)
        budget = Budget.new(
            args.name, args.scope, limit=args.limit, window=args.window, timezone=args.timezone, mode=args.mode
        )
    else:
        require_database(url)

    async def work(store: Store) -> int:
        if args.budgets_command == "create":
            await add_budget(store, budget)
            print(f"created budget {budget.name}: {budget.describe()}")
        else:
            deleted = await delete_budget(store, args.name)
            print(f"deleted budget {deleted.name} ({deleted.describe()})")
        return 0

    return asyncio.run(_with_store(url, work))
