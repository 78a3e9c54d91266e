"""Text rendering for `majordomo demo`: one trace's spans from both processes as a tree, with costs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from .. import semconv as sc
from ..costs import format_cost


def _cost(value: object) -> str:
    return f"${format_cost(Decimal(str(value)))}" if isinstance(value, int | float) else ""


def _label(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    service = str(span.resource.attributes.get("service.name", ""))
    parts = [span.name]
    if service == "majordomo-gateway":
        kind = (
            "SERVER" if span.kind is SpanKind.SERVER else "CLIENT" if span.kind is SpanKind.CLIENT else span.kind.name
        )
        parts.append(f"[gateway {kind}]")
        if span.kind is SpanKind.SERVER:
            parts.append(str(attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL) or ""))
            parts.append(f"cost {_cost(attrs.get('majordomo.cost.total')) or 'unpriced'}")
    else:
        if span.kind is SpanKind.CLIENT and (request_id := attrs.get(sc.REQUEST_ID)):
            parts.append(
                f"[app HTTP client, request …{str(request_id)[-8:]}]"
            )  # ids are time-ordered: the tail differs
        if (step := attrs.get(sc.STEP)) and span.name.startswith("invoke_agent"):
            parts.append(f"step={step}")
        if sc.OPERATION_COST in attrs:
            parts.append(f"(Pydantic AI cost {_cost(attrs['operation.cost'])})")
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    return "  ".join(p for p in parts if p) + f"  {duration_ms:.1f} ms"


def span_tree(spans: Iterable[ReadableSpan], trace_id: int) -> str:
    """The spans of `trace_id` as an indented tree (children in start order)."""
    mine = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    ids = {s.context.span_id for s in mine if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in mine:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children[parent].append(span)
    lines: list[str] = []

    def walk(nodes: Sequence[ReadableSpan], prefix: str) -> None:
        ordered = sorted(nodes, key=lambda s: s.start_time or 0)
        for i, span in enumerate(ordered):
            last = i == len(ordered) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_label(span)}")
            assert span.context is not None
            walk(children.get(span.context.span_id, []), prefix + ("   " if last else "│  "))

    walk(children.get(None, []), "")
    return "\n".join(lines)
