"""`json.loads`, about 4x faster on what the gateway parses per request (request and response bodies).

orjson parses a provider's body in ~1 µs where the standard library takes ~4.5. It reads every valid RFC 8259
document as `json.loads` does but two ways: integers past 64 bits become floats, and what the standard
library also accepts (NaN, Infinity, lone surrogates, a BOM) or reports in its own words it refuses. So
orjson answers only for a document without a run of 19 or more digits, and only when it succeeds; anything
else goes to `json.loads`, whose result, exception and message stand, as they did before this module.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

#: Where an integer could exceed 64 bits (2**63 has 19 digits); a long fraction matches too (harmlessly).
_LONG_DIGITS: Final = re.compile(rb"[0-9]{19}")


def parse_json(raw: bytes | bytearray) -> Any:
    """What `json.loads(raw)` returns, or raises what it raises."""
    if _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)
