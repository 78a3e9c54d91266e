"""The sim's Message Batches keep a bounded number of batches: a long-running sim does not grow without end."""

from __future__ import annotations

import json

from majordomo_otel.sim._anthropic import MAX_BATCHES, Batches

BODY = {"requests": [{"custom_id": "q", "params": {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []}}]}


def test_the_oldest_batch_goes_once_the_bound_is_reached() -> None:
    batches = Batches()
    ids = [json.loads(batches.create(b"{}", BODY, "http://sim").chunks[0])["id"] for _ in range(MAX_BATCHES + 1)]
    listed = json.loads(batches.list_page({"limit": str(MAX_BATCHES)}, "http://sim").chunks[0])
    assert (
        len(set(ids)),
        len(listed["data"]),
        listed["has_more"],
        batches.retrieve(ids[0], "http://sim").status,
        listed["data"][0]["id"],
    ) == (MAX_BATCHES + 1, MAX_BATCHES, False, 404, ids[-1])
