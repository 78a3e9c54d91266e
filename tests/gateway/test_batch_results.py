"""`ResultsUrlFilter`: a batch response with each `results_url` pointed at the gateway, nothing else changed.

(The gateway's own use of it, with the anthropic SDK, is in test_passthrough_endpoints.py.)
"""

from __future__ import annotations

import json

import pytest

from majordomo_otel.gateway import batch_urls
from majordomo_otel.gateway.batch_urls import ResultsUrlFilter


def test_only_the_results_url_changes_byte_for_byte() -> None:
    body = (
        b'{"id": "msgbatch_1",\n  "results_url":   "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results",'
        b' "note": "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results", "x": "\\u00e9"}'
    )
    rewritten = _filtered(body, "http://gw:7680", chunk=7)
    assert rewritten == body.replace(
        b'"https://api.anthropic.com/v1/messages/batches/msgbatch_1/results",',
        b'"http://gw:7680/v1/messages/batches/msgbatch_1/results",',
        1,
    )


def test_a_list_page_has_every_batch_rewritten() -> None:
    page = {
        "data": [
            {"id": f"b{n}", "results_url": f"https://proxy.corp/anthropic/v1/messages/batches/b{n}/results"}
            for n in range(3)
        ]
        + [{"id": "b3", "results_url": None}],
        "has_more": False,
    }
    rewritten = json.loads(_filtered(json.dumps(page).encode(), "https://gw"))
    assert [b["results_url"] for b in rewritten["data"]] == [
        "https://gw/v1/messages/batches/b0/results",
        "https://gw/v1/messages/batches/b1/results",
        "https://gw/v1/messages/batches/b2/results",
        None,
    ]


def test_a_body_larger_than_the_bound_passes_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_urls, "MAX_BUFFERED", 64)
    body = b'{"results_url": "https://api.anthropic.com/v1/messages/batches/b/results", "pad": "' + b"x" * 100 + b'"}'
    assert _filtered(body, "http://gw", chunk=16) == body


def _filtered(body: bytes, base: str, chunk: int = 1 << 20) -> bytes:
    f = ResultsUrlFilter(base)
    out = b"".join(f.feed(body[i : i + chunk]) for i in range(0, len(body), chunk))
    return out + f.flush()
