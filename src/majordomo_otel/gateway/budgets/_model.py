"""A budget: which requests it covers (its scope), how much they may spend (its limit), over which calendar
window, and what happens beyond the limit (its mode). Validated here, once, wherever one is made (CLI or
Python); the gateway reads back only rows that passed.

A scope is one or more conditions, all of which must match: `feature=research` (that value), `user_id=*`
(each distinct value separately: one limit per user), on the tags `feature`, `step`, `user_id`,
`session_id` or any free-form tag (`tag.team=search`), or on `key` (a Majordomo key's name; `key=*` is each
key), `provider` (the provider table's name) or `model` (the model the request asks for). A request
without a tag the scope names does not match, `*` or not.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from majordomo_otel._money import QUANTUM, format_cost, from_pico, to_pico
from majordomo_otel.tags import MAX_VALUE_LENGTH, TagError, Tags

from ._windows import Window

EACH: Final = "*"
#: Costs are exact to 12 decimals (llm_requests' NUMERIC(20,12)); budgets count in these units.
MAX_LIMIT: Final = Decimal(1_000_000)
TAG_PREFIX: Final = "tag."
#: Scope names on the request's own facts rather than its tags.
KEY, PROVIDER, MODEL = "key", "provider", "model"
#: Named tags: scope name -> `raw_metadata` key (the header suffix), in the order scopes are written.
NAMED_TAGS: Final[dict[str, str]] = {
    "feature": "Feature",
    "step": "Step",
    "user_id": "User-Id",
    "session_id": "Session-Id",
}
_ORDER: Final = (*NAMED_TAGS, KEY, PROVIDER, MODEL)
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Mode(StrEnum):
    BLOCK = "block"  # refuse (429) once the window's spend reaches the limit
    WARN = "warn"  # let it through, mark the row and span, log once per window


class BudgetError(ValueError):
    """Bad budget input: one line saying what is wrong (the CLI prints it as is)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """`name=value`; `value` None is `name=*`, each distinct value separately."""

    name: str
    value: str | None

    @property
    def metadata_key(self) -> str | None:
        """The `raw_metadata` key a tag condition reads (None for key, provider, model)."""
        if self.name in NAMED_TAGS:
            return NAMED_TAGS[self.name]
        if self.name.startswith(TAG_PREFIX):
            [key] = Tags.build(extra={self.name[len(TAG_PREFIX) :]: "x"}).raw_metadata()
            return key
        return None

    def __str__(self) -> str:
        return f"{self.name}={EACH if self.value is None else self.value}"


def _scope_name(raw: str) -> str:
    name = raw.strip().lower()
    if name in _ORDER:
        return name
    if name.startswith(TAG_PREFIX):
        try:
            [key] = Tags.build(extra={raw.strip()[len(TAG_PREFIX) :]: "x"}).extra
        except TagError as exc:
            raise BudgetError(f"scope {raw!r}: {exc}") from None
        return TAG_PREFIX + key
    known = ", ".join(_ORDER)
    raise BudgetError(f"unknown scope {raw!r}: use {known} or tag.NAME (a free-form tag)")


def parse_scope(conditions: str | Iterable[str] | Mapping[str, str]) -> tuple[Condition, ...]:
    """`"feature=research user_id=*"`, `["feature=research", "user_id=*"]` or `{"feature": "research"}` → conditions,
    in a canonical order (so one scope has one spelling, and a duplicate is recognised)."""
    if isinstance(conditions, Mapping):
        pairs = [(str(k), str(v)) for k, v in conditions.items()]
    else:
        items = conditions.replace(",", " ").split() if isinstance(conditions, str) else list(conditions)
        pairs = []
        for item in items:
            name, sep, value = str(item).partition("=")
            if not sep:
                raise BudgetError(
                    f"scope {item!r}: expected NAME=VALUE (or NAME=* for each value), e.g. feature=research"
                )
            pairs.append((name, value))
    if not pairs:
        raise BudgetError("a budget needs a scope: one or more NAME=VALUE conditions, e.g. feature=research user_id=*")
    found: dict[str, Condition] = {}
    for raw_name, raw_value in pairs:
        name = _scope_name(raw_name)
        value = raw_value.strip()
        if not value:
            raise BudgetError(f"scope {raw_name}=: empty value (use {raw_name}=* for each value separately)")
        if len(value) > MAX_VALUE_LENGTH:
            raise BudgetError(f"scope {name}: value longer than {MAX_VALUE_LENGTH} characters")
        if name in found:
            raise BudgetError(f"scope {name} given twice")
        found[name] = Condition(name, None if value == EACH else value)
    rank = {name: i for i, name in enumerate(_ORDER)}
    return tuple(sorted(found.values(), key=lambda c: (rank.get(c.name, len(rank)), c.name)))


def parse_limit(value: str | int | float | Decimal) -> Decimal:
    """USD, exact: more than 0, at most MAX_LIMIT, at most 12 decimals (the costs' own precision)."""
    try:
        limit = Decimal(str(value).strip().removeprefix("$"))
    except InvalidOperation:
        raise BudgetError(f"limit {value!r} is not a number of USD (e.g. 5 or 0.25)") from None
    if not limit.is_finite() or limit <= 0:
        raise BudgetError(f"limit {value!r} must be more than 0 USD")
    if limit > MAX_LIMIT:
        raise BudgetError(f"limit {value!r} is above the largest budget, {MAX_LIMIT} USD")
    if limit != limit.quantize(QUANTUM):
        raise BudgetError(f"limit {value!r} has more than 12 decimals")
    return limit.quantize(Decimal(1)) if limit == limit.to_integral_value() else limit.normalize()


def parse_window(value: str | Window) -> Window:
    try:
        return Window(str(value).strip().lower())
    except ValueError:
        raise BudgetError(f"unknown window {value!r}: use {', '.join(w.value for w in Window)}") from None


def parse_timezone(value: str | None) -> str:
    name = (value or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BudgetError(f"unknown time zone {value!r}: use an IANA name such as Europe/Paris, or UTC") from None
    return name


def parse_mode(value: str | Mode) -> Mode:
    try:
        return Mode(str(value).strip().lower())
    except ValueError:
        raise BudgetError(f"unknown mode {value!r}: use block or warn") from None


def parse_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise BudgetError(
            f"budget name {value!r}: 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    scope: tuple[Condition, ...]
    limit: Decimal
    window: Window
    timezone: str = "UTC"
    mode: Mode = Mode.BLOCK
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def new(
        cls,
        name: str,
        scope: str | Iterable[str] | Mapping[str, str],
        *,
        limit: str | int | float | Decimal,
        window: str | Window,
        timezone: str | None = None,
        mode: str | Mode = Mode.BLOCK,
    ) -> Budget:
        """A validated budget; raises `BudgetError` naming the first bad input."""
        return cls(
            name=parse_name(name),
            scope=parse_scope(scope),
            limit=parse_limit(limit),
            window=parse_window(window),
            timezone=parse_timezone(timezone),
            mode=parse_mode(mode),
        )

    @property
    def each(self) -> tuple[Condition, ...]:
        """The `*` conditions: one limit per distinct combination of their values."""
        return tuple(c for c in self.scope if c.value is None)

    @property
    def limit_pico(self) -> int:
        return to_pico(self.limit)

    def scope_text(self) -> str:
        return " ".join(str(c) for c in self.scope)

    def scope_mapping(self) -> dict[str, str]:
        return {c.name: EACH if c.value is None else c.value for c in self.scope}

    def describe(self) -> str:
        """`feature=research user_id=*: up to $5 per day (UTC) for each user_id, block`: what `create` confirms."""
        each = f" for each {' and '.join(c.name for c in self.each)}" if self.each else ""
        return (
            f"{self.scope_text()}: up to ${usd(self.limit)} per {self.window.value} ({self.timezone}){each}, "
            f"{self.mode.value}"
        )


def usd(amount: int | Decimal) -> str:
    """picoUSD (an int) or USD (a Decimal) as plain USD text, as `majordomo costs` prints costs."""
    return format_cost(from_pico(amount) if isinstance(amount, int) else amount) or "0"
