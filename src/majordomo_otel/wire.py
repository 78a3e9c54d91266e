"""The wire vocabulary both halves share: every `X-Majordomo-*` header name, derived from one prefix, and
the header value codec. The client sends the key, the provider choice and tags; the gateway answers with
the request and trace ids. Nothing else spells these names.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, unquote

__all__ = [
    "KEY",
    "PREFIX",
    "PREFIX_LOWER",
    "PROTOCOL_SUFFIXES",
    "PROVIDER",
    "REQUEST_ID",
    "TRACE_ID",
    "decode_value",
    "encode_value",
    "header",
]

PREFIX: Final = "X-Majordomo-"
PREFIX_LOWER: Final = PREFIX.lower()


def header(suffix: str) -> str:
    """`Feature` → `X-Majordomo-Feature`."""
    return PREFIX + suffix


KEY: Final = header("Key")  # the client's Majordomo key (mdm_sk_…)
PROVIDER: Final = header("Provider")  # the provider table row a root path goes to
REQUEST_ID: Final = header("Request-Id")  # the response's record id (llm_requests.id)
TRACE_ID: Final = header("Trace-Id")  # the response's trace id (llm_requests.trace_id)

#: Suffixes that are protocol, not tags (lower-case): a tag may not use them.
PROTOCOL_SUFFIXES: Final = frozenset(name[len(PREFIX) :].lower() for name in (KEY, PROVIDER, REQUEST_ID, TRACE_ID))

# Printable ASCII except '%' passes through; everything else (non-ASCII, CR, LF, other controls,
# '%' itself) is percent-encoded, so a value can never split or inject a header.
_SAFE: Final = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")
# Spaces at either end of a header value are not part of it (RFC 9110 §5.5): servers strip them and
# h11 (httpx) refuses to send them, so those are percent-encoded too.
_EDGE_SPACES: Final = re.compile(r"^ +| +$")


def encode_value(value: str) -> str:
    """Percent-encode what is not printable ASCII (and '%', and edge spaces): a header value that round-trips."""
    return _EDGE_SPACES.sub(lambda m: "%20" * len(m[0]), quote(value, safe=_SAFE))


def decode_value(value: str) -> str:
    return unquote(value, errors="replace")
