"""Which headers cross the gateway: hop-by-hop never, ours and trace context never upstream, the rest unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from majordomo_otel.gateway import headers
from majordomo_otel.gateway.headers import downstream_headers, upstream_headers

CLIENT = [
    ("Host", "gateway:7680"),
    ("Content-Length", "99"),
    ("Connection", "keep-alive"),
    ("Authorization", "Bearer sk-provider"),
    ("X-Majordomo-Key", "mdm_sk_x"),
    ("x-majordomo-feature", "research"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("Baggage", "user=u"),
    ("anthropic-beta", "a"),
    ("anthropic-beta", "b"),
    ("Accept-Encoding", "gzip"),
]
PROVIDER = [
    ("Content-Type", "text/event-stream"),
    ("Transfer-Encoding", "chunked"),
    ("Keep-Alive", "timeout=5"),
    ("x-request-id", "req_1"),
    ("openai-processing-ms", "120"),
    ("Set-Cookie", "__cf_bm=x"),
]


def test_upstream_gets_the_clients_own_headers_in_order_repeats_kept() -> None:
    assert upstream_headers(CLIENT, None) == [
        ("Authorization", "Bearer sk-provider"),
        ("anthropic-beta", "a"),
        ("anthropic-beta", "b"),
        ("Accept-Encoding", "gzip"),
    ]


def test_the_client_gets_the_providers_headers_minus_hop_by_hop() -> None:
    assert downstream_headers(PROVIDER, None) == [
        ("Content-Type", "text/event-stream"),
        ("x-request-id", "req_1"),
        ("openai-processing-ms", "120"),
        ("Set-Cookie", "__cf_bm=x"),
    ]


def test_headers_named_in_connection_are_hop_by_hop_too() -> None:
    sent = [("Connection", "close, X-Private"), ("x-private", "1"), ("Accept", "*/*")]
    assert upstream_headers(sent, "close, X-Private") == [("Accept", "*/*")]


@pytest.mark.parametrize("name", ["X-MAJORDOMO-KEY", "x-Majordomo-User-Id", "TRACEPARENT", "tE"])
def test_any_spelling_of_a_dropped_name_is_dropped(name: str) -> None:
    assert upstream_headers([(name, "v"), ("Accept", "*/*")], None) == [("Accept", "*/*")]


def test_the_memo_of_decisions_stays_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = headers._UPSTREAM  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(headers._HeaderFilter, "MAX_NAMES", 8)  # pyright: ignore[reportPrivateUsage]
    for i in range(50):  # a client inventing header names
        sent = [(f"x-made-up-{i}", "1"), (f"X-Majordomo-Tag-{i}", "t")]
        assert upstream_headers(sent, None) == [(f"x-made-up-{i}", "1")]
        assert len(memo._keep) <= 8  # pyright: ignore[reportPrivateUsage]
    assert upstream_headers(CLIENT, None) == upstream_headers(list(CLIENT), "keep-alive")


_NAMES = st.sampled_from(["Host", "Connection", "keep-alive", "TE", "X-Private", "x-private", "Accept", "close"])
_NAMES |= st.sampled_from(["X-Majordomo-Key", "traceparent", "Baggage", "x-request-id", "Content-Length"])


def _reference(sent: list[tuple[str, str]], connection: str | None, *, upstream: bool) -> list[tuple[str, str]]:
    """The rule spelled out once per header, as the filter applied it before it memoised names."""
    drop = headers._NOT_UPSTREAM if upstream else headers._NOT_DOWNSTREAM  # pyright: ignore[reportPrivateUsage]
    named = {token.strip().lower() for token in connection.split(",")} if connection else set()
    return [
        (name, value)
        for name, value in sent
        if name.lower() not in drop
        and name.lower() not in named
        and not (upstream and name.lower().startswith("x-majordomo-"))
    ]


@given(
    st.lists(st.tuples(_NAMES, st.just("v")), max_size=8),
    st.none() | st.lists(_NAMES, max_size=3).map(", ".join),
)
def test_both_directions_follow_the_rule_for_any_headers_and_connection(
    sent: list[tuple[str, str]], connection: str | None
) -> None:
    assert (upstream_headers(sent, connection), downstream_headers(sent, connection)) == (
        _reference(sent, connection, upstream=True),
        _reference(sent, connection, upstream=False),
    )
