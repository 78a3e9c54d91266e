"""Budget use as a table (`majordomo budgets list`, `majordomo costs --budgets`) or JSON (exact decimal strings)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._model import usd
from ._usage import BudgetUsage

_HEAD = ("name", "scope", "mode", "limit", "spent", "used", "window", "resets (UTC)")


def _share(spent: Decimal, limit: Decimal) -> str:
    return f"{spent / limit:.1%}"


def _in(seconds: float) -> str:
    minutes = max(int(seconds // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


def _when(at: datetime, now: datetime) -> str:
    return f"{at.strftime('%Y-%m-%d %H:%M')} (in {_in((at - now).total_seconds())})"


def render_table(usage: Sequence[BudgetUsage], now: datetime) -> str:
    if not usage:
        return "no budgets (create one with `majordomo budgets create NAME SCOPE... --limit USD --window day`)\n"
    rows: list[tuple[str, ...]] = [_HEAD]
    for u in usage:
        b = u.budget
        rows.append(
            (
                b.name,
                b.scope_text(),
                b.mode.value,
                usd(b.limit),
                usd(u.spent),
                _share(u.spent, b.limit),
                f"{b.window.value} {b.timezone}",
                _when(u.resets_at, now),
            )
        )
        for value in u.top:
            rows.append(("", f"  {value.label()}", "", "", usd(value.spent), _share(value.spent, b.limit), "", ""))
        if b.each:
            rows.append(("", f"  {u.values} value(s), {u.over_limit} at the limit", "", "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows)


def _usage_object(u: BudgetUsage) -> dict[str, Any]:
    b = u.budget
    return {
        "name": b.name,
        "scope": b.scope_mapping(),
        "mode": b.mode.value,
        "window": b.window.value,
        "timezone": b.timezone,
        "limit_usd": usd(b.limit),
        "spent_usd": usd(u.spent),
        "share_used": float(u.spent / b.limit),
        "window_start": u.window_start.isoformat(),
        "resets_at": u.resets_at.isoformat(),
        "values": u.values if b.each else None,
        "over_limit": u.over_limit,
        "top": [{"values": v.values, "spent_usd": usd(v.spent)} for v in u.top],
    }


def render_json(usage: Sequence[BudgetUsage]) -> str:
    return json.dumps([_usage_object(u) for u in usage], indent=2, ensure_ascii=False) + "\n"
