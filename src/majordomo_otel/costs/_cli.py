"""The `majordomo costs` command: options in, one store queried (never created or migrated), a rendering out.

The only part that touches the process (arguments, stdout/stderr, exit code, the database file), so the
queries and renderers stay plain library functions.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._options import parse_groupings, parse_when
from ._query import cost_totals, trace_costs
from ._render import render_totals, render_trace

if TYPE_CHECKING:
    from majordomo_otel.gateway.settings import Settings
    from majordomo_otel.gateway.store import Store


_TRACE_ID = re.compile(r"[0-9a-f]{32}")


async def _with_store(url: str, work: Callable[[Store], Any]) -> Any:
    from majordomo_otel.gateway.store import open_store, require_database

    require_database(url)
    store = open_store(url)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def run_costs(args: argparse.Namespace, settings: Settings) -> int:
    """`majordomo costs`: print totals (or one trace's records) to stdout; 1 when the trace has no records."""
    now = datetime.now(UTC)
    since = parse_when(args.since, now=now, flag="--since")
    until = parse_when(args.until, now=now, flag="--until")
    fmt = getattr(args, "format", None) or "table"
    if getattr(args, "budgets", False):
        from majordomo_otel.gateway.budgets._cli import print_usage
        from majordomo_otel.gateway.store import require_database

        require_database(settings.database_url)
        return print_usage(settings.database_url, as_json=fmt == "json", migrate=False)
    if args.trace:
        if not _TRACE_ID.fullmatch(args.trace.strip().lower()):
            raise ValueError(f"--trace {args.trace!r} is not a trace id (32 hex digits, as in llm_requests)")
        trace = asyncio.run(
            _with_store(settings.database_url, lambda s: trace_costs(s, args.trace, since=since, until=until))
        )
        if not trace.records:
            print(f"no records for trace {trace.trace_id}", file=sys.stderr)
            return 1
        sys.stdout.write(render_trace(trace, fmt))
        return 0
    by = parse_groupings(args.by or "")
    rows = asyncio.run(_with_store(settings.database_url, lambda s: cost_totals(s, by=by, since=since, until=until)))
    sys.stdout.write(render_totals(rows, by, fmt))
    return 0
