"""Usage for OpenAI-compatible chat streams whose client did not ask for it, invisibly to that client.

A chat-completions stream reports usage only with `stream_options: {"include_usage": true}`, which
the openai SDKs, LangChain, LiteLLM and the Agents SDK do not send behind a custom base URL, so their
streamed rows had no tokens and no cost. For those requests the gateway asks the provider for usage
(`ask_for_usage`) and takes back out of the stream what that adds (`HiddenUsage`): the usage-only
chunk (`"choices": []`) and the `"usage": null` field every other chunk then carries. The usage reader
sees the provider's stream as it came; the client sees the stream it asked for.

Only for providers whose table row says usage must be asked for (`StreamUsage.ASK`); a setting
(`MAJORDOMO_STREAM_USAGE=off`) turns it off.
"""

from __future__ import annotations

import json
import re
from typing import Final

#: Bodies up to this size are parsed to merge into an existing `stream_options`; larger ones are only
#: ever changed by inserting a member after the opening brace.
_PARSE_BYTES: Final = 1024 * 1024
#: An event longer than this is not a usage chunk: stop holding bytes back and pass the rest through.
_MAX_HELD: Final = 1024 * 1024

_ASK: Final = b'"stream_options":{"include_usage":true}'
_OPENING: Final = re.compile(rb"\A\s*\{\s*")
_EVENT_END: Final = re.compile(rb"\r?\n\r?\n")
_USAGE_NULL: Final = re.compile(rb'\s*,\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,\s*')
_USAGE_ONLY: Final = re.compile(rb'"choices"\s*:\s*\[\s*\]')


def ask_for_usage(body: bytes) -> bytes | None:
    """`body` with `stream_options.include_usage` set; None when it asked already or cannot be changed safely."""
    if b'"stream_options"' not in body:
        opening = _OPENING.match(body)
        if opening is None:
            return None
        rest = body[opening.end() :]
        return body[: opening.end()] + _ASK + (b"," if not rest.startswith(b"}") else b"") + rest
    if len(body) > _PARSE_BYTES:
        return None  # the name appears somewhere: merging would mean parsing a large body
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    options = parsed.get("stream_options") if isinstance(parsed, dict) else None
    if not isinstance(options, dict) or options.get("include_usage") is True:
        return None
    options["include_usage"] = True
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode()


class HiddenUsage:
    """Filters a stream of SSE bytes, event by event: drops the usage-only chunk, strips `"usage": null`.

    Holds back only the incomplete tail of the last event (a client cannot use half an event anyway),
    at most `_MAX_HELD` bytes; past that it gives up filtering and passes everything through.
    """

    __slots__ = ("_held", "_passthrough")

    def __init__(self) -> None:
        self._held = b""
        self._passthrough = False

    def feed(self, chunk: bytes) -> bytes:
        if self._passthrough:
            return chunk
        data = self._held + chunk if self._held else chunk
        cut = 0
        for end in _EVENT_END.finditer(data):
            cut = end.end()
        if cut == 0:
            if len(data) > _MAX_HELD:
                self._passthrough, self._held = True, b""
                return data
            self._held = data
            return b""
        self._held = data[cut:]
        return _filter(data[:cut])

    def flush(self) -> bytes:
        """What is held at the end of the stream (an event without its blank line), filtered."""
        held, self._held = self._held, b""
        return _filter(held) if held and not self._passthrough else held


def _filter(events: bytes) -> bytes:
    if b'"usage"' not in events:
        return events
    out = []
    start = 0
    for end in _EVENT_END.finditer(events):
        out.append(_event(events[start : end.end()]))
        start = end.end()
    if start < len(events):
        out.append(_event(events[start:]))
    return b"".join(out)


def _event(event: bytes) -> bytes:
    if b'"usage"' not in event:
        return event
    if _USAGE_ONLY.search(event) and not _USAGE_NULL.search(event):
        return b""  # the chunk only the usage request added
    return _USAGE_NULL.sub(b"", event, count=1)
