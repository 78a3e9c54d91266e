"""The `Tags` value: what a piece of agent work is, for cost attribution.

Tags live in the OpenTelemetry context (so they follow contextvars semantics: asyncio tasks and
threads started with a copied context inherit them, siblings never see each other's), and travel
to the gateway as `X-Majordomo-*` headers. This module owns the value, its bounds and its header
codec; the span processor and the propagator only call into it.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import context as otel_context

from . import semconv, wire

__all__ = [
    "HEADER_PREFIX",
    "MAX_EXTRAS",
    "MAX_KEY_LENGTH",
    "MAX_VALUE_LENGTH",
    "NAMED",
    "RESERVED_HEADERS",
    "TagError",
    "Tags",
    "current_tags",
    "tags",
]

HEADER_PREFIX: Final = wire.PREFIX_LOWER
MAX_KEY_LENGTH: Final = 64
MAX_VALUE_LENGTH: Final = 256
MAX_EXTRAS: Final = 32

_KEY_RE: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_KEY_LENGTH}}}")
_CONTEXT_KEY: Final = otel_context.create_key("majordomo-tags")

#: The named tags, defined here once: attribute name -> canonical header suffix (also the `raw_metadata` key).
NAMED: Final[Mapping[str, str]] = {
    "feature": "Feature",
    "step": "Step",
    "user_id": "User-Id",
    "session_id": "Session-Id",
}
_NAMED_BY_HEADER: Final = {suffix.lower(): name for name, suffix in NAMED.items()}
_NAMED_VALUES: Final = operator.attrgetter(*NAMED)  # the four values in one C call
_NO_VALUES: Final = (None,) * len(NAMED)

#: `X-Majordomo-*` suffixes that are protocol, not tags (lower-case). An extra tag may not use them.
RESERVED_HEADERS: Final = wire.PROTOCOL_SUFFIXES


class TagError(ValueError):
    """A tag key or value is outside the documented bounds."""


def _normalize_extra_key(key: str) -> str:
    """`Example-Framework`, `example_framework` and `EXAMPLE_FRAMEWORK` are one key: `example_framework`."""
    if not _KEY_RE.fullmatch(key):
        raise TagError(f"tag key {key!r} must be 1-{MAX_KEY_LENGTH} characters of A-Z, a-z, 0-9, '_' or '-'")
    normalized = key.lower().replace("-", "_")
    if normalized in NAMED or normalized.replace("_", "-") in RESERVED_HEADERS:
        raise TagError(f"tag key {key!r} is reserved; use the named argument or another key")
    return normalized


def _check_value(key: str, value: object) -> str:
    """Any Unicode text within the length bound: what is accepted here reaches the gateway's record intact."""
    if not isinstance(value, str):
        raise TagError(f"tag {key!r} must be a str, got {type(value).__name__}")
    if len(value) > MAX_VALUE_LENGTH:
        raise TagError(f"tag {key!r} is {len(value)} characters long; the limit is {MAX_VALUE_LENGTH}")
    if "\x00" in value:  # the gateway would record U+FFFD instead
        raise TagError(f"tag {key!r} contains a NUL character, which no store keeps")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise TagError(f"tag {key!r} contains a lone surrogate, which is not Unicode text") from None
    return value


def _header_suffix(extra_key: str) -> str:
    """`example_framework` -> `Example-Framework` (canonical Title-Case, as in `raw_metadata`)."""
    return "-".join(part.capitalize() for part in extra_key.split("_"))


encode_header_value = wire.encode_value
decode_header_value = wire.decode_value


@dataclass(frozen=True, slots=True)
class Tags:
    """Immutable set of tags. Empty fields are `None`; `extra` keys are normalised to snake_case."""

    feature: str | None = None
    step: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(
        cls,
        *,
        feature: str | None = None,
        step: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Tags:
        """Validate and build; raises `TagError` beyond MAX_KEY_LENGTH, MAX_VALUE_LENGTH or MAX_EXTRAS."""
        named = {"feature": feature, "step": step, "user_id": user_id, "session_id": session_id}
        for key, value in named.items():
            if value is not None:
                _check_value(key, value)
        extras: dict[str, str] = {}
        for key, value in (extra or {}).items():
            extras[_normalize_extra_key(key)] = _check_value(key, value)
        if len(extras) > MAX_EXTRAS:
            raise TagError(f"{len(extras)} extra tags given; the limit is {MAX_EXTRAS}")
        return cls(**named, extra=MappingProxyType(extras))

    def merged(self, inner: Tags) -> Tags:
        """`inner` wins per key; used for nested `tags()`."""
        if not self:
            return inner
        extras = {**self.extra, **inner.extra}
        if len(extras) > MAX_EXTRAS:
            raise TagError(f"{len(extras)} extra tags in scope; the limit is {MAX_EXTRAS}")
        named = {}
        for name in NAMED:
            value = getattr(inner, name)
            named[name] = value if value is not None else getattr(self, name)
        return Tags(**named, extra=MappingProxyType(extras))

    def __bool__(self) -> bool:
        return bool(self.extra) or _NAMED_VALUES(self) != _NO_VALUES

    def items(self) -> Iterator[tuple[str, str]]:
        """(name, value) for every set tag: named ones first, then extras."""
        for name in NAMED:
            value = getattr(self, name)
            if value is not None:
                yield name, value
        yield from self.extra.items()

    # --- renderings -------------------------------------------------------------------------
    def span_attributes(self) -> dict[str, str]:
        """`majordomo.*` attributes, mirrored to `user.id` / `session.id` (general OTel conventions)."""
        attrs: dict[str, str] = {}
        for name in NAMED:
            value = getattr(self, name)
            if value is not None:
                attrs[semconv.tag_attribute(name, named=True)] = value
        for key, value in self.extra.items():
            attrs[semconv.tag_attribute(key, named=False)] = value
        if self.user_id is not None:
            attrs[semconv.USER_ID] = self.user_id
        if self.session_id is not None:
            attrs[semconv.SESSION_ID] = self.session_id
        return attrs

    def raw_metadata(self) -> dict[str, str]:
        """Title-Case keys (`User-Id`, `Example-Framework`): the guide's SQL reads these verbatim."""
        meta: dict[str, str] = {}
        for name, suffix in NAMED.items():
            if (value := getattr(self, name)) is not None:
                meta[suffix] = value
        for key, value in self.extra.items():
            meta[_header_suffix(key)] = value
        return meta

    def headers(self) -> dict[str, str]:
        """`X-Majordomo-<Suffix>` headers, values percent-encoded where needed."""
        return {wire.header(suffix): wire.encode_value(value) for suffix, value in self.raw_metadata().items()}

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, str]]) -> tuple[Tags, list[str]]:
        """Parse `X-Majordomo-*` tag headers, leniently: what is out of bounds is dropped and reported.

        The gateway must never fail a request because of its metadata, so problems come back as
        messages for the record instead of exceptions.
        """
        named: dict[str, str] = {}
        extras: dict[str, str] = {}
        problems: list[str] = []
        known = _TAG_SUFFIXES.get
        for raw_name, raw_value in headers:
            suffix = known(raw_name, _UNSEEN)
            if suffix is _UNSEEN:
                suffix = _learn_suffix(raw_name)
            if suffix is None:  # not a tag header: most of them
                continue
            value = decode_header_value(raw_value)
            if len(value) > MAX_VALUE_LENGTH:
                problems.append(f"header {raw_name} dropped: value longer than {MAX_VALUE_LENGTH} characters")
                continue
            if (name := _NAMED_BY_HEADER.get(suffix)) is not None:
                named[name] = value
                continue
            if not _KEY_RE.fullmatch(suffix):
                problems.append(f"header {raw_name} dropped: tag key out of bounds")
                continue
            if len(extras) >= MAX_EXTRAS:
                problems.append(f"header {raw_name} dropped: more than {MAX_EXTRAS} extra tags")
                continue
            extras[suffix.replace("-", "_")] = value
        if not named and not extras:  # most headers are not tags: the empty value is immutable, share it
            return _EMPTY, problems
        return cls(**named, extra=MappingProxyType(extras)), problems


_EMPTY: Final = Tags()

#: header name as sent → its lower-case tag suffix, or None for a header that is not a tag (bounded: the names
#: are the client's). Names repeat request after request, so each is lowered and tested once.
_TAG_SUFFIXES: dict[str, str | None] = {}
_MAX_MEMO_NAMES: Final = 1024
_UNSEEN: Final = "UNSEEN"  # never a suffix: suffixes are lower-case


def _learn_suffix(raw_name: str) -> str | None:
    lowered = raw_name.lower()
    suffix: str | None = lowered[len(HEADER_PREFIX) :]
    if not lowered.startswith(HEADER_PREFIX) or suffix in RESERVED_HEADERS:
        suffix = None
    if len(_TAG_SUFFIXES) >= _MAX_MEMO_NAMES:
        _TAG_SUFFIXES.clear()
    _TAG_SUFFIXES[raw_name] = suffix
    return suffix


def current_tags() -> Tags:
    """The tags in effect here (empty `Tags()` outside any `tags()` block)."""
    value = otel_context.get_value(_CONTEXT_KEY)
    return value if isinstance(value, Tags) else _EMPTY


def get_tags(ctx: otel_context.Context | None) -> Tags:
    """The tags stored in a given OTel context (for span processors and propagators)."""
    value = otel_context.get_value(_CONTEXT_KEY, ctx)
    return value if isinstance(value, Tags) else _EMPTY


def set_tags(value: Tags, ctx: otel_context.Context | None = None) -> otel_context.Context:
    return otel_context.set_value(_CONTEXT_KEY, value, ctx)


# Tokens of the `with tags(...)` blocks open in this context, innermost last. Kept per context, not
# per `tags` object, so one object (e.g. a module-level `research = tags(feature="research")`) can be
# entered by many tasks or threads at once; with-blocks nest, so the innermost is always the last.
_TOKENS: ContextVar[tuple[object, ...]] = ContextVar("majordomo_tags_tokens", default=())

P = ParamSpec("P")
R = TypeVar("R")


class tags:  # used like a function: `with tags(...)` / `@tags(...)`, hence lower case
    """Tag the work done inside: `with tags(feature="research", user_id=uid): ...` or `@tags(step="x")`.

    Nested blocks merge, the inner value winning per key. As a decorator it enters anew on every
    call (sync or async), so concurrent calls never share state.
    """

    __slots__ = ("_tags",)

    def __init__(
        self,
        *,
        feature: str | None = None,
        step: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        **extra: str,
    ) -> None:
        self._tags = Tags.build(feature=feature, step=step, user_id=user_id, session_id=session_id, extra=extra)

    @property
    def value(self) -> Tags:
        return self._tags

    def __enter__(self) -> Tags:
        merged = current_tags().merged(self._tags)
        _TOKENS.set((*_TOKENS.get(), otel_context.attach(set_tags(merged))))
        return merged

    def __exit__(self, *exc_info: object) -> None:
        *outer, token = _TOKENS.get()
        _TOKENS.set(tuple(outer))
        otel_context.detach(token)  # type: ignore[arg-type]

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        scoped = self._tags

        @contextmanager
        def scope() -> Iterator[None]:
            token = otel_context.attach(set_tags(current_tags().merged(scoped)))
            try:
                yield
            finally:
                otel_context.detach(token)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with scope():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with scope():
                    async for item in func(*args, **kwargs):
                        yield item

            return agen_wrapper

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with scope():
                return func(*args, **kwargs)

        return wrapper
