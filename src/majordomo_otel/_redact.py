"""Passwords out of database URLs, before any URL is printed, logged or shown on `/readyz`."""

from __future__ import annotations

import re
from typing import Final

# user:password@ in the authority, and password=... in the query (libpq accepts both)
_USERINFO: Final = re.compile(r"(?P<head>://[^/?#@:]*:)[^/?#]*@")  # greedy: an unescaped @ in it too
_QUERY: Final = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&#]*", re.IGNORECASE)


def hide_password(url: str) -> str:
    """`postgresql://me:s3cret@db/x?password=s3cret` → `postgresql://me:***@db/x?password=***`."""
    return _QUERY.sub(r"\g<head>***", _USERINFO.sub(r"\g<head>***@", url))
