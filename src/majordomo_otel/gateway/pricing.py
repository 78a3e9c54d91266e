"""Prices a request's usage exactly as genai-prices (and so Pydantic AI) does, in a few µs.

Pydantic AI prices a response with `genai_prices.calc_price(usage, model_name, provider_id=...)`.
That call searches the price data for (provider, model), then `ModelPrice.calc_price` rebuilds
the model's unit breakdown (which priced units are ancestors of which, missing-count inference)
for every call: 100 to 300 µs, too much for a gateway serving thousands of requests a second on one
core. `Pricer` resolves (provider, model) once — misses included — and compiles each `ModelPrice`
once into a `_Plan`: the priced units in genai-prices' order, each with its rate (or tiers), its
`per`, its direction, where its count comes from in our `Usage` and which counts are subtracted
from it. Pricing a usage is then the same integer leaf arithmetic, the same tier choice (all
tokens at the rate of the highest tier whose start the input tokens exceed) and the same Decimal
operations in the same order as genai-prices (`rate * count / per`, summed from `Decimal(0)`), so
the result is identical, representation included; the tests compare against `calc_price` on every
fixture and on randomized usages. The plan is built with genai-prices' own (private) helpers
(`_collect_resolved_model_prices`, the unit registry): those tests are what guard an upgrade.

What the plan does not cover goes to genai-prices itself: a `price_context` (price variants),
counts that are not plain non-negative ints, price keys genai-prices would warn about or reject,
and the Groq Whisper special case. Prices that change over time (`ConditionalPrice` lists with
start dates) are re-resolved once per UTC day (start dates are days); time-of-day prices and an
explicit `at` resolve the active `ModelPrice` per call, then use its compiled plan.

Usage is handed over the way Pydantic AI's `RequestUsage` carries it: `input_tokens` (all input,
cache included), `output_tokens` (all output, reasoning included), `cache_read_tokens`,
`cache_write_tokens`, `cache_write_1h_tokens`, `output_reasoning_tokens` and the audio subsets
(`input_audio_tokens`, `cache_audio_read_tokens`, `output_audio_tokens`).

`price()` returns None when there is nothing it can price; `known()` tells why: False means
genai-prices does not know the model (record it unpriced and flagged, never as 0).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations
from operator import attrgetter
from typing import NamedTuple

from genai_prices import Usage as _PriceUsage
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.decompose import is_descendant_or_self
from genai_prices.types import ModelInfo, ModelPrice, Provider, StartDateConstraint, TieredPrices
from genai_prices.units import UnitDef
from genai_prices.validation import validate_priced_units

try:  # private helpers the compiled plans are built with; without them, genai-prices prices every call
    from genai_prices.types import _collect_resolved_model_prices  # pyright: ignore[reportPrivateUsage]
    from genai_prices.units import _get_registry  # pyright: ignore[reportPrivateUsage]
except ImportError:  # pragma: no cover - a genai-prices release that moved them
    _collect_resolved_model_prices = _get_registry = None  # type: ignore[assignment]

from .custom_prices import CustomPrices
from .providers import BUILTIN
from .usage import Usage

__all__ = ["GENAI_PRICES_PROVIDER_IDS", "Price", "Pricer", "price_usage"]

#: Our built-in provider names → genai-prices provider ids, from the provider table.
GENAI_PRICES_PROVIDER_IDS: Mapping[str, str] = {p.name: p.price_id for p in BUILTIN if p.price_id}

#: Distinct (provider, model) pairs kept; model names come from responses and requests, so bound it.
_MAX_CACHED_MODELS = 4096

#: genai-prices usage key ← our `Usage` attribute, in the order `_counts` returns them.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
    ("output_reasoning_tokens", "reasoning_tokens"),
    ("input_audio_tokens", "input_audio_tokens"),
    ("cache_audio_read_tokens", "cache_audio_read_tokens"),
    ("output_audio_tokens", "output_audio_tokens"),
)
_USAGE_KEYS = tuple(key for key, _ in _FIELDS)
_counts = attrgetter(*(attr for _, attr in _FIELDS))
_ZERO = Decimal(0)
_INPUT, _OUTPUT = 1, 2
_DAY = 86_400.0
_GROQ_PER_SECOND_MODELS = ("whisper-large-v3", "whisper-large-v3-turbo")


@dataclass(frozen=True, slots=True)
class Price:
    """Cost in USD."""

    input_cost: Decimal
    output_cost: Decimal
    total_cost: Decimal


def price_usage(usage: Usage) -> _PriceUsage:
    """Our `Usage` as the usage object genai-prices prices (the fields Pydantic AI's RequestUsage sets)."""
    return _PriceUsage(**{k: v for k, v in zip(_USAGE_KEYS, _counts(usage), strict=True) if v is not None})


class _Leaf(NamedTuple):
    """One priced unit's count: its reported value (or the inferred 0) minus its priced descendants'."""

    source: int  # index into `_counts(usage)`, -1 when our Usage never reports this key
    minus: tuple[int, ...]  # indices of already computed leaves to subtract
    missing: _Missing | None  # None: an unreported count is always taken as 0


@dataclass(frozen=True, slots=True)
class _Missing:
    """When an unreported count may be taken as 0: genai-prices refuses (ValueError) if a reported
    positive count is a more specific unit, or two reported positive counts overlap exactly on it."""

    descendants: tuple[int, ...]
    overlaps: tuple[tuple[int, int], ...]

    def refused(self, values: tuple[int | None, ...]) -> bool:
        return any(values[i] for i in self.descendants) or any(values[i] and values[j] for i, j in self.overlaps)


class _Term(NamedTuple):
    """One priced unit of `ModelPrice.calc_price`'s loop."""

    leaf: int  # index into the leaves, -1 for the per-request unit (count 1)
    rate: Decimal
    tiers: tuple[tuple[int, Decimal], ...]  # (start, rate), highest start first
    per: Decimal  # the unit's `per` (an int in genai-prices; as a Decimal, the same quotient)
    direction: int
    fixed: Decimal | None  # the unit price when it cannot vary (a count never reported, flat rate)


def _missing_rule(unit: UnitDef, fields: tuple[UnitDef, ...]) -> _Missing | None:
    """`genai_prices.types.Usage._infer_missing_value`, restricted to the keys our Usage carries."""
    descendants = tuple(i for i, f in enumerate(fields) if f is not unit and is_descendant_or_self(unit, f))
    overlaps = tuple(
        (i, j)
        for (i, a), (j, b) in combinations(enumerate(fields), 2)
        if a is not unit
        and b is not unit
        and a.is_compatible_with(b)
        and not is_descendant_or_self(a, b)
        and not is_descendant_or_self(b, a)
        and dict(unit.dimensions) == {**a.dimensions, **b.dimensions}
    )
    return _Missing(descendants, overlaps) if descendants or overlaps else None


class _Plan:
    """`ModelPrice.calc_price` for one ModelPrice, with the structure worked out once."""

    __slots__ = ("_leaves", "_terms", "_tier_input")

    def __init__(self, leaves: tuple[_Leaf, ...], terms: tuple[_Term, ...], tier_input: _Leaf | None) -> None:
        self._leaves = leaves
        self._terms = terms
        self._tier_input = tier_input  # how to read input_tokens when a price is tiered

    @classmethod
    def compile(cls, model_price: ModelPrice) -> _Plan | None:
        """The plan, or None when genai-prices should price it itself (it would warn or raise)."""
        if _get_registry is None or _collect_resolved_model_prices is None:
            return None  # correct but slower: every call goes through genai-prices
        registry = _get_registry()
        if type(model_price) is not ModelPrice:
            return None
        stored = [k for k, v in model_price.__dict__.items() if not k.startswith("_") and v is not None]
        if any(k not in registry._all_price_keys for k in stored):  # pyright: ignore[reportPrivateUsage]
            return None  # genai-prices warns on every call and skips them
        try:
            resolved = _collect_resolved_model_prices(model_price, registry)
            validate_priced_units(tuple(unit for unit, _ in resolved), registry)
        except ValueError:
            return None
        fields = tuple(registry.units[key] for key in _USAGE_KEYS)
        priced = sorted(
            (unit for unit, _ in resolved if unit.usage_key != "requests"),
            key=lambda unit: (-len(unit.dimensions), unit.usage_key),
        )
        position = {unit.usage_key: n for n, unit in enumerate(priced)}
        leaves = tuple(
            _Leaf(
                source=_USAGE_KEYS.index(unit.usage_key) if unit.usage_key in _USAGE_KEYS else -1,
                minus=tuple(position[d.usage_key] for d in priced if d is not unit and is_descendant_or_self(unit, d)),
                missing=_missing_rule(unit, fields),
            )
            for unit in priced
        )
        terms = []
        for unit, price in resolved:
            direction = unit.dimensions.get("direction")
            code = _INPUT if direction == "input" else _OUTPUT if direction == "output" else 0
            if isinstance(price, TieredPrices):
                rate, tiers = price.base, tuple((t.start, t.price) for t in reversed(price.tiers))
            else:
                rate, tiers = price, ()
            leaf = position.get(unit.usage_key, -1)
            fixed = None
            if not tiers and leaf >= 0 and leaves[leaf] == (-1, (), None):  # always 0, as genai-prices writes it
                fixed = rate * Decimal(0) / unit.per
            terms.append(_Term(leaf, rate, tiers, Decimal(unit.per), code, fixed))
        tiered = any(isinstance(price, TieredPrices) for _, price in resolved)
        input_unit = registry.units["input_tokens"]
        tier_input = _Leaf(0, (), _missing_rule(input_unit, fields)) if tiered else None
        return cls(leaves, tuple(terms), tier_input)

    def price(self, values: tuple[int | None, ...]) -> Price | None:
        """The price of non-negative int counts (in `_FIELDS` order); None where genai-prices raises."""
        leaves: list[int] = []
        for source, minus, missing in self._leaves:
            value = values[source] if source >= 0 else None
            if value is None:
                if missing is not None and missing.refused(values):
                    return None
                value = 0
            for n in minus:
                value -= leaves[n]
            if value < 0:
                return None  # e.g. more cache reads than input tokens
            leaves.append(value)
        total_input = 0
        if (tier_input := self._tier_input) is not None:
            if (first := values[0]) is not None:
                total_input = first
            elif tier_input.missing is not None and tier_input.missing.refused(values):
                return None
        input_price = output_price = total_price = _ZERO
        for leaf, rate, tiers, per, direction, fixed in self._terms:
            if fixed is not None:
                unit_price = fixed
            else:
                for start, tier_rate in tiers:
                    if total_input > start:
                        rate = tier_rate
                        break
                # == rate * Decimal(count) / unit.per: ints convert to Decimal exactly, so same digits
                unit_price = rate * (1 if leaf < 0 else leaves[leaf]) / per
            total_price += unit_price
            if direction == _INPUT:
                input_price += unit_price
            elif direction == _OUTPUT:
                output_price += unit_price
        return Price(input_price, output_price, total_price)


class _Model:
    """A resolved (provider, model) and the plan for its current prices."""

    __slots__ = ("dated", "info", "plan", "provider", "since", "slow", "until")

    def __init__(self, provider: Provider, info: ModelInfo, plan: _Plan | None) -> None:
        self.provider = provider
        self.info = info
        #: Whether the active price depends on the request time (a list of `ConditionalPrice`).
        self.dated = not isinstance(info.prices, ModelPrice)
        #: Always priced by genai-prices: Groq Whisper bills a minimum duration; prices it would refuse.
        self.slow = (provider.id == "groq" and info.id in _GROQ_PER_SECOND_MODELS) or (plan is None and not self.dated)
        self.plan = plan  # the plan of the single price, or of the dated price active in [since, until)
        self.since = self.until = 0.0


class Pricer:
    """Resolves (provider, model) once, compiles each model's prices once, then prices each usage.

    The caches follow genai-prices' current snapshot: if prices are updated in the background
    (`genai_prices.UpdatePrices`), lookups are redone against the new data.
    """

    def __init__(self, price_ids: Mapping[str, str] | None = None, custom: CustomPrices | None = None) -> None:
        #: provider name → genai-prices id (the provider table's); a name not in it is taken as an id
        self._price_ids = GENAI_PRICES_PROVIDER_IDS if price_ids is None else price_ids
        self._custom = custom or CustomPrices()
        self._snapshot: DataSnapshot | None = None
        self._models: dict[tuple[str, str], _Model | None] = {}
        self._plans: dict[int, tuple[ModelPrice, _Plan | None]] = {}

    def price_record(self, provider: str, model: str | None, usage: Usage) -> tuple[Price | None, str]:
        """The price and the record's `pricing_status`: priced, priced_by_config, unknown_model or unpriceable."""
        if (rates := self._custom.get(provider, model)) is not None:
            costs = rates.cost(usage)
            if costs is None:
                return None, "unpriceable"
            return Price(input_cost=costs[0], output_cost=costs[1], total_cost=costs[0] + costs[1]), "priced_by_config"
        price = self.price(provider, model, usage)
        if price is not None:
            return price, "priced"
        return None, "unpriceable" if self.known(provider, model) else "unknown_model"

    def known(self, provider: str, model: str | None) -> bool:
        """Whether genai-prices has a price for `model` at `provider`."""
        return model is not None and self._resolve(provider, model) is not None

    def price(
        self,
        provider: str,
        model: str | None,
        usage: Usage,
        *,
        at: datetime | None = None,
        price_context: Mapping[str, str] | None = None,
    ) -> Price | None:
        """The cost of `usage`, or None: no model, unknown model (`known()` is False), no usage
        reported, or counts genai-prices refuses (e.g. more cached than total input tokens).

        `at` is the request time (prices change over time; default now); `price_context` selects
        price variants such as `{"service_tier": "priority"}`, as Pydantic AI's provider_details do.
        """
        if model is None or (usage.input_tokens is None and usage.output_tokens is None):
            return None
        entry = self._resolve(provider, model)
        if entry is None:
            return None
        if price_context or entry.slow:
            return self._genai_price(entry, usage, at, price_context)
        values = _counts(usage)
        for value in values:
            if value is not None and (type(value) is not int or value < 0):
                return self._genai_price(entry, usage, at, price_context)
        plan = self._dated_plan(entry, at) if entry.dated else entry.plan
        if plan is None:
            return self._genai_price(entry, usage, at, price_context)
        return plan.price(values)

    def _dated_plan(self, entry: _Model, at: datetime | None) -> _Plan | None:
        if at is not None:
            return self._plan(entry.info.get_prices(at))
        now = time.time()
        if entry.since <= now < entry.until:
            return entry.plan
        plan = self._plan(entry.info.get_prices(datetime.fromtimestamp(now, tz=UTC)))
        if all(
            c.constraint is None or isinstance(c.constraint, StartDateConstraint)
            for c in entry.info.prices  # type: ignore[union-attr]
        ):  # start dates are UTC days: the active price holds until the next UTC midnight
            entry.plan, entry.since = plan, now - now % _DAY
            entry.until = entry.since + _DAY
        return plan

    def _plan(self, model_price: ModelPrice) -> _Plan | None:
        try:
            return self._plans[id(model_price)][1]
        except KeyError:
            plan = _Plan.compile(model_price)
            self._plans[id(model_price)] = (model_price, plan)  # keeps the object, so its id stays unique
            return plan

    @staticmethod
    def _genai_price(
        entry: _Model, usage: Usage, at: datetime | None, price_context: Mapping[str, str] | None
    ) -> Price | None:
        """genai-prices' own computation for the resolved model (what `calc_price` does after its search)."""
        try:
            calc = entry.info.calc_price(
                price_usage(usage),
                entry.provider,
                genai_request_timestamp=at,
                price_context=dict(price_context) if price_context else None,
            )
        except ValueError:
            return None
        return Price(input_cost=calc.input_price, output_cost=calc.output_price, total_cost=calc.total_price)

    def _resolve(self, provider: str, model: str) -> _Model | None:
        snapshot = get_snapshot()
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._models = {}
            self._plans = {}
        key = (provider, model)
        try:
            return self._models[key]
        except KeyError:
            pass
        provider_id = self._price_ids.get(provider, provider)
        try:
            provider_info, model_info = snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            resolved = None
        else:
            prices = model_info.prices
            resolved = _Model(provider_info, model_info, self._plan(prices) if isinstance(prices, ModelPrice) else None)
        if len(self._models) >= _MAX_CACHED_MODELS:
            self._models.clear()
        self._models[key] = resolved
        return resolved
