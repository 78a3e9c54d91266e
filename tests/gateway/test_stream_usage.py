"""Asking a chat stream for usage and hiding what that adds: the client gets the bytes it would have got."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from majordomo_otel.gateway.request_body import scan
from majordomo_otel.gateway.stream_usage import HiddenUsage, ask_for_usage

ASKED = {"include_usage": True}


def _chunk(choices: list[object], **extra: object) -> bytes:
    return b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": choices, **extra}).encode()


def test_a_body_without_stream_options_gets_them_as_its_first_member() -> None:
    body = b'{"model":"gpt-4o-mini","stream":true,"messages":[]}'
    assert (
        ask_for_usage(body)
        == b'{"stream_options":{"include_usage":true},"model":"gpt-4o-mini","stream":true,"messages":[]}'
    )


def test_an_empty_object_gets_them_without_a_dangling_comma() -> None:
    assert json.loads(ask_for_usage(b" { } ") or b"") == {"stream_options": ASKED}


def test_existing_stream_options_are_merged() -> None:
    body = json.dumps({"model": "m", "stream": True, "stream_options": {"include_obfuscation": False}}).encode()
    assert json.loads(ask_for_usage(body) or b"") == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"stream":true,"stream_options":{"include_usage":true}}',  # asked already
        b'{"stream":true,"stream_options":null}',  # not ours to reinterpret
        b"[1,2]",
        b"not json",
        b'{"stream_options": ',
    ],
)
def test_bodies_that_asked_already_or_cannot_be_changed_safely_are_left_alone(body: bytes) -> None:
    assert ask_for_usage(body) is None


@pytest.mark.parametrize(
    ("body", "asked"),
    [
        (b'{"stream":true,"stream_options":{"include_usage":true}}', True),
        (b'{"stream_options":{"include_usage":false},"stream":true}', False),
        (b'{"stream_options":{"include_usage":"true"}}', False),
        (b'{"stream_options":{"include_usage":1}}', False),
        (b'{"stream_options":null}', False),
        (b'{"stream_options":{"include_usage":true},"stream_options":{}}', False),  # the last member wins
        (b'{"stream":true}', False),
    ],
)
def test_the_body_facts_say_when_a_stream_asked_for_usage_itself(body: bytes, asked: bool) -> None:
    assert scan(body).usage_asked is asked


_OPTION_VALUES = st.none() | st.booleans() | st.integers(-1, 2) | st.sampled_from(["true", "", {}, []])


@given(
    st.dictionaries(
        st.sampled_from(["model", "stream", "stream_options", "messages"]),
        st.dictionaries(st.sampled_from(["include_usage", "include_obfuscation"]), _OPTION_VALUES) | _OPTION_VALUES,
    )
)
def test_usage_asked_is_exactly_when_there_is_nothing_to_ask_for(document: dict[str, object]) -> None:
    """The proxy skips `ask_for_usage` (and its parse) when the facts say so: only where it would change nothing."""
    body = json.dumps(document).encode()
    options = document.get("stream_options")
    asked = isinstance(options, dict) and options.get("include_usage") is True
    assert scan(body).usage_asked is asked
    if asked:
        assert ask_for_usage(body) is None


def test_the_usage_only_chunk_and_usage_nulls_are_hidden() -> None:
    stream = b"".join(
        [
            _chunk([{"index": 0, "delta": {"content": "Hi"}}], usage=None) + b"\n\n",
            _chunk([], usage={"prompt_tokens": 9, "completion_tokens": 1}) + b"\n\n",
            b"data: [DONE]\n\n",
        ]
    )
    filtered = HiddenUsage()
    assert (
        filtered.feed(stream) + filtered.flush()
        == _chunk([{"index": 0, "delta": {"content": "Hi"}}]) + b"\n\ndata: [DONE]\n\n"
    )


def test_filtering_does_not_depend_on_how_the_bytes_are_chunked() -> None:
    stream = (
        _chunk([{"index": 0, "delta": {"content": 'a, "usage": null'}}], usage=None)
        + b"\r\n\r\n"
        + _chunk([], usage={"prompt_tokens": 9})
        + b"\n\ndata: [DONE]\n\n"
    )
    whole = HiddenUsage()
    expected = whole.feed(stream) + whole.flush()
    for size in (1, 2, 7, 64):
        filtered = HiddenUsage()
        out = b"".join(filtered.feed(stream[i : i + size]) for i in range(0, len(stream), size)) + filtered.flush()
        assert out == expected
    assert (b"prompt_tokens" in expected, b'a, \\"usage\\": null' in expected) == (False, True)


def test_a_content_filter_chunk_with_empty_choices_is_kept() -> None:
    event = _chunk([], prompt_filter_results=[{"prompt_index": 0}], usage=None) + b"\n\n"
    filtered = HiddenUsage()
    assert filtered.feed(event) == _chunk([], prompt_filter_results=[{"prompt_index": 0}]) + b"\n\n"


def test_an_event_too_long_to_be_a_usage_chunk_passes_through_unheld() -> None:
    filtered = HiddenUsage()
    big = b"data: " + b"x" * (2 * 1024 * 1024)
    assert (filtered.feed(big), filtered.feed(b"\n\n"), filtered.flush()) == (big, b"\n\n", b"")
