"""`tags()`: what a piece of work is, merged when nested, isolated like contextvars, bounded, and safe on the wire."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import pytest

from majordomo_otel import TagError, Tags, current_tags, tags


def _t(**kwargs: str) -> Tags:
    extra = {k: v for k, v in kwargs.items() if k not in {"feature", "step", "user_id", "session_id"}}
    named = {k: v for k, v in kwargs.items() if k not in extra}
    return Tags(**named, extra=MappingProxyType(extra))


def test_outside_any_block_there_are_no_tags() -> None:
    assert current_tags() == Tags()
    assert not current_tags()


def test_nested_blocks_merge_and_the_inner_value_wins_per_key() -> None:
    with tags(feature="research", user_id="u-1", team="a"):
        with tags(step="synthesis", user_id="u-2", region="eu") as inner:
            assert (
                inner
                == current_tags()
                == _t(feature="research", step="synthesis", user_id="u-2", team="a", region="eu")
            )
        assert current_tags() == _t(feature="research", user_id="u-1", team="a")
    assert current_tags() == Tags()


def test_decorator_applies_on_every_call_sync_and_async() -> None:
    @tags(step="plan")
    def plan() -> Tags:
        return current_tags()

    @tags(step="act")
    async def act() -> Tags:
        return current_tags()

    with tags(feature="f"):
        assert plan() == _t(feature="f", step="plan")
        assert asyncio.run(act()) == _t(feature="f", step="act")
    assert plan() == _t(step="plan")


def test_decorated_async_generators_keep_their_tags_while_iterating() -> None:
    @tags(step="stream")
    async def chunks():
        for _ in range(2):
            yield current_tags()

    async def collect() -> list[Tags]:
        return [t async for t in chunks()]

    assert asyncio.run(collect()) == [_t(step="stream"), _t(step="stream")]


async def test_sibling_tasks_never_see_each_other_and_children_inherit() -> None:
    async def work(user: str) -> tuple[Tags, Tags]:
        with tags(user_id=user):
            await asyncio.sleep(0)
            child = await asyncio.create_task(asyncio.sleep(0, result=current_tags()))
            return current_tags(), child

    results = await asyncio.gather(*(work(f"u-{i}") for i in range(200)))
    assert results == [(_t(user_id=f"u-{i}"), _t(user_id=f"u-{i}")) for i in range(200)]
    assert current_tags() == Tags()


def test_threads_are_isolated_and_a_copied_context_carries_tags() -> None:
    def work(user: str) -> Tags:
        with tags(user_id=user):
            return current_tags()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, [f"u-{i}" for i in range(64)])) == [_t(user_id=f"u-{i}") for i in range(64)]
        with tags(feature="carried"):
            ctx = contextvars.copy_context()
            assert pool.submit(ctx.run, current_tags).result() == _t(feature="carried")
            assert pool.submit(current_tags).result() == Tags()


async def test_one_tags_object_can_be_entered_by_many_tasks_at_once() -> None:
    research = tags(feature="research")

    async def work(user: str) -> tuple[Tags, Tags]:
        with research, tags(user_id=user):
            await asyncio.sleep(0)
            inside = current_tags()
        return inside, current_tags()

    assert await asyncio.gather(*(work(f"u-{i}") for i in range(50))) == [
        (_t(feature="research", user_id=f"u-{i}"), Tags()) for i in range(50)
    ]
    assert current_tags() == Tags()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature": "x" * 257}, "tag 'feature' is 257 characters long; the limit is 256"),
        ({"user_id": 42}, "tag 'user_id' must be a str, got int"),
        ({"k" * 65: "v"}, "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"),
        ({"key": "v"}, "tag key 'key' is reserved"),
        ({"Provider": "v"}, "tag key 'Provider' is reserved"),
        ({"Feature": "v"}, "tag key 'Feature' is reserved; use the named argument"),
        ({f"e{i}": "v" for i in range(33)}, "33 extra tags given; the limit is 32"),
    ],
)
def test_values_beyond_the_bounds_are_a_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(TagError) as exc_info:
        tags(**kwargs)
    assert message in str(exc_info.value)


def test_extra_keys_are_one_key_whatever_their_spelling() -> None:
    assert tags(**{"Example-Framework": "a"}).value == tags(example_framework="a").value == _t(example_framework="a")


def test_span_attributes_and_raw_metadata() -> None:
    value = _t(feature="f", step="s", user_id="u", session_id="sess", example_framework="pai")
    assert value.span_attributes() == {
        "majordomo.feature": "f",
        "majordomo.step": "s",
        "majordomo.user_id": "u",
        "majordomo.session_id": "sess",
        "majordomo.tag.example_framework": "pai",
        "user.id": "u",
        "session.id": "sess",
    }
    assert value.raw_metadata() == {
        "Feature": "f",
        "Step": "s",
        "User-Id": "u",
        "Session-Id": "sess",
        "Example-Framework": "pai",
    }


def test_headers_round_trip_non_ascii_and_line_breaks_without_injection() -> None:
    value = _t(feature="résumé 100%", user_id="evil\r\nX-Injected: 1", session_id="東京")
    headers = value.headers()
    assert headers == {
        "X-Majordomo-Feature": "r%C3%A9sum%C3%A9 100%25",
        "X-Majordomo-User-Id": "evil%0D%0AX-Injected: 1",
        "X-Majordomo-Session-Id": "%E6%9D%B1%E4%BA%AC",
    }
    assert all(v.isascii() and "\r" not in v and "\n" not in v for v in headers.values())
    assert Tags.from_headers(headers.items()) == (value, [])


def test_headers_are_read_the_same_however_often_a_name_repeats_and_the_memo_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tags_module = importlib.import_module("majordomo_otel.tags")  # the package exports `tags()` under that name
    monkeypatch.setattr(tags_module, "_MAX_MEMO_NAMES", 8)
    for i in range(40):  # a client inventing names: each still read right, the memo never past its bound
        sent = [(f"X-Majordomo-T{i}", "v"), (f"x-other-{i}", "1"), ("X-MAJORDOMO-FEATURE", "f"), ("X-Majordomo-", "e")]
        assert Tags.from_headers(sent) == (
            _t(feature="f", **{f"t{i}": "v"}),
            ["header X-Majordomo- dropped: tag key out of bounds"],
        )
        assert len(tags_module._TAG_SUFFIXES) <= 8  # pyright: ignore[reportPrivateUsage]


def test_the_gateway_reads_headers_leniently_and_reports_what_it_dropped() -> None:
    headers = [
        ("x-majordomo-feature", "ok"),
        ("X-Majordomo-Key", "mdm_sk_secret"),  # protocol, not a tag
        ("X-Majordomo-Step", "s" * 300),
        ("X-Majordomo-" + "k" * 70, "v"),
        ("Authorization", "Bearer x"),
    ]
    assert Tags.from_headers(headers) == (
        _t(feature="ok"),
        [
            "header X-Majordomo-Step dropped: value longer than 256 characters",
            f"header X-Majordomo-{'k' * 70} dropped: tag key out of bounds",
        ],
    )
