"""`majordomo costs`: cost totals from `llm_requests`, grouped by tags, model or provider, on either store.

Also a small library: `cost_totals()` and `trace_costs()` query an open store, `render_totals()` and
`render_trace()` print their results. One job per module:

* `_options`: `--by` groupings and the `--since`/`--until` window;
* `_query`: the SQL, the same text on SQLite and PostgreSQL, with exact `Decimal` sums on both;
* `_types`: the results (`CostRow`, `TraceCosts`, `TraceRecord`);
* `_render`: table, `--json` and `--csv`;
* `_cli`: the command itself (`run_costs`).
"""

from __future__ import annotations

from .._money import format_cost
from ._cli import run_costs
from ._options import GROUPINGS, parse_groupings, parse_when
from ._query import cost_totals, trace_costs
from ._render import NONE_LABEL, render_totals, render_trace
from ._types import CostRow, TraceCosts, TraceRecord

__all__ = [
    "GROUPINGS",
    "NONE_LABEL",
    "CostRow",
    "TraceCosts",
    "TraceRecord",
    "cost_totals",
    "format_cost",
    "parse_groupings",
    "parse_when",
    "render_totals",
    "render_trace",
    "run_costs",
    "trace_costs",
]
