"""Which budgets a request falls under, and for which value of their `*` conditions: on every request, so
indexed. Each budget is filed under one of its exact conditions (`feature=research`: under Feature →
research); a request looks up its own value of each filed fact, a handful of dict lookups however many
budgets there are, and checks the few budgets it finds. Budgets with only `*` conditions are checked always.

A request is read as the decision sees it, before it goes upstream: its tags (`raw_metadata`), its provider,
the model it asks for (`request_model`) and its key's id (`key=NAME` is the ids of the keys of that name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Final, Generic, TypeVar

from majordomo_otel.gateway.record import RequestRecord

from ._model import KEY, MODEL, PROVIDER, Budget, Condition

T = TypeVar("T")

# A fact of the request: a `raw_metadata` key (a tag), or one of these.
_PROVIDER: Final = "\0provider"
_MODEL: Final = "\0model"
_KEY: Final = "\0key"
_SOURCES: Final = {PROVIDER: _PROVIDER, MODEL: _MODEL, KEY: _KEY}


def _source(condition: Condition) -> str:
    return _SOURCES.get(condition.name) or condition.metadata_key or condition.name


def _facts(record: RequestRecord) -> dict[str, str | None]:
    """The request's facts by source, read once per match: its tags, provider, model and key."""
    facts: dict[str, str | None] = dict(record.raw_metadata)
    facts[_PROVIDER] = record.provider
    facts[_MODEL] = record.request_model
    facts[_KEY] = record.majordomo_api_key_id
    return facts


def subject_of(values: Sequence[str]) -> str:
    """The stored name of one value (combination) of a budget's `*` conditions: '' for none, else a JSON array,
    ASCII-escaped so that any tag value is storable (json's own C escaper: this runs per request)."""
    if len(values) == 1:  # the usual `user_id=*`
        return "[" + encode_basestring_ascii(values[0]) + "]"
    return "[" + ",".join(map(encode_basestring_ascii, values)) + "]" if values else ""


def subject_values(subject: str) -> list[str]:
    return json.loads(subject) if subject else []


class _Compiled(Generic[T]):
    __slots__ = ("each", "exact", "item", "rest")

    def __init__(self, budget: Budget, item: T, key_ids: Mapping[str, frozenset[str]]) -> None:
        self.item = item
        #: (source, allowed values) for exact conditions; (source) for `*` ones, in scope order
        self.exact: list[tuple[str, frozenset[str]]] = []
        self.each: list[str] = []
        for condition in budget.scope:
            source = _source(condition)
            if condition.value is None:
                self.each.append(source)
            elif condition.name == KEY:
                self.exact.append((source, key_ids.get(condition.value, frozenset())))
            else:
                self.exact.append((source, frozenset((condition.value,))))
        self.rest = self.exact[1:]  # the first is the one the budget is filed under: the lookup checked it

    def subject(self, facts: Mapping[str, str | None]) -> str | None:
        for source, allowed in self.rest:
            if facts.get(source) not in allowed:
                return None
        if not self.each:
            return ""
        values = [facts.get(source) for source in self.each]
        if None in values:
            return None
        return subject_of(values)  # type: ignore[arg-type]  # no None left


class Matcher(Generic[T]):
    """Built once per change of the budgets (by the sync task), read by every request."""

    def __init__(self, budgets: Sequence[tuple[Budget, T]], key_ids: Mapping[str, frozenset[str]]) -> None:
        self._filed: dict[str, dict[str, list[_Compiled[T]]]] = {}
        self._always: list[_Compiled[T]] = []
        for budget, item in budgets:
            compiled = _Compiled(budget, item, key_ids)
            if not compiled.exact:
                self._always.append(compiled)
                continue
            source, values = compiled.exact[0]
            table = self._filed.setdefault(source, {})
            for value in values:
                table.setdefault(value, []).append(compiled)
        self._sources = tuple(self._filed.items())

    def match(self, record: RequestRecord) -> list[tuple[T, str]]:
        """(item, subject) for every budget the request falls under."""
        facts = _facts(record)
        found: list[tuple[T, str]] = []
        for source, table in self._sources:
            if (candidates := table.get(facts.get(source))) is not None:  # type: ignore[arg-type]
                for compiled in candidates:
                    if (subject := compiled.subject(facts)) is not None:
                        found.append((compiled.item, subject))
        for compiled in self._always:
            if (subject := compiled.subject(facts)) is not None:
                found.append((compiled.item, subject))
        return found
