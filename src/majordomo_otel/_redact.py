"""Secrets out of URLs before they are printed, logged, recorded or shown on `/readyz`."""

from __future__ import annotations

import re
from typing import Final

# user:password@ in the authority, and password=... in the query (libpq accepts both)
_USERINFO: Final = re.compile(r"(?P<head>://[^/?#@:]*:)[^/?#]*@")  # greedy: an unescaped @ in it too
_QUERY: Final = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&#]*", re.IGNORECASE)


def hide_password(url: str) -> str:
    """`postgresql://me:s3cret@db/x?password=s3cret` → `postgresql://me:***@db/x?password=***`."""
    return _QUERY.sub(r"\g<head>***", _USERINFO.sub(r"\g<head>***@", url))


# A credential in a query, also where it is percent-encoded into the path (`%3Fkey=`, which must not
# become a real query upstream either). The value runs to the next `&`: over-masking beats a leak.
_URL_SECRET: Final = re.compile(r"(?i)((?:[?&]|%3F|%26)(?:key|api[_-]?key|access_token)(?:=|%3D))[^&\s'\"]+")


def redact_url(text: str) -> str:
    """`text` (a path, a URL, an error naming one) with any query credential masked, for records and logs."""
    if "?" not in text and "&" not in text and "%" not in text:  # nothing to mask: skip the regex (~3 µs)
        return text
    return _URL_SECRET.sub(r"\1***", text)
