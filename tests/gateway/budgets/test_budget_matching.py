"""Which budgets a request falls under, and for which value of their `*` conditions."""

from __future__ import annotations

from datetime import UTC, datetime

from majordomo_otel.gateway.budgets import Budget
from majordomo_otel.gateway.budgets._match import Matcher
from majordomo_otel.gateway.record import RequestRecord

KEYS = {"ci-bot": frozenset({"key-1", "key-2"})}


def request(tags: dict[str, str] | None = None, **fields: str | None) -> RequestRecord:
    record = RequestRecord(
        id="r",
        provider="openai",
        request_path="/v1/chat/completions",
        request_method="POST",
        requested_at=datetime.now(UTC),
        request_model="gpt-4o-mini",
    )
    record.raw_metadata = tags or {}
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def matches(scopes: dict[str, str], record: RequestRecord) -> list[tuple[str, str]]:
    budgets = [(Budget.new(name, scope, limit="1", window="day"), name) for name, scope in scopes.items()]
    return Matcher(budgets, KEYS).match(record)


def test_every_condition_must_match() -> None:
    scopes = {"both": "feature=research step=search", "one": "feature=research"}
    assert matches(scopes, request({"Feature": "research", "Step": "answer"})) == [("one", "")]


def test_a_star_condition_names_the_value_it_matched() -> None:
    scopes = {"per-user": "feature=research user_id=*", "per-user-session": "user_id=* session_id=*"}
    record = request({"Feature": "research", "User-Id": "u-1", "Session-Id": "s-9"})
    assert matches(scopes, record) == [("per-user", '["u-1"]'), ("per-user-session", '["u-1","s-9"]')]


def test_a_request_without_the_tag_a_star_names_does_not_match() -> None:
    assert matches({"per-user": "user_id=*"}, request({"Feature": "research"})) == []


def test_provider_model_and_free_form_tags_match_the_request_facts() -> None:
    scopes = {"p": "provider=openai", "m": "model=gpt-4o-mini", "t": "tag.team=search", "other": "provider=anthropic"}
    assert matches(scopes, request({"Team": "search"})) == [("p", ""), ("m", ""), ("t", "")]


def test_the_model_is_the_one_asked_for_not_the_one_that_answered() -> None:
    record = request(model="gpt-4o-mini-2024-07-18")
    assert matches({"m": "model=gpt-4o-mini"}, record) == [("m", "")]


def test_a_key_condition_matches_every_key_of_that_name() -> None:
    scopes = {"bot": "key=ci-bot", "each-key": "key=*"}
    found = [matches(scopes, request(majordomo_api_key_id=k)) for k in ("key-1", "key-2", "key-3", None)]
    assert found == [
        [("bot", ""), ("each-key", '["key-1"]')],
        [("bot", ""), ("each-key", '["key-2"]')],
        [("each-key", '["key-3"]')],
        [],
    ]


def test_a_hostile_tag_value_becomes_an_ascii_subject() -> None:
    [(_, subject)] = matches({"u": "user_id=*"}, request({"User-Id": 'a"\udcff\x00é'}))
    assert subject == '["a\\"\\udcff\\u0000\\u00e9"]'
