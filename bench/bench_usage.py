"""Benchmarks for the gateway's hot path: usage readers and pricing.

Run: `python bench/bench_usage.py` (a few seconds). Prints reader throughput (MB/s, µs per SSE
event) for long synthetic streams fed in network-sized chunks, and the per-call cost of pricing
with `Pricer` (cached resolution) against `genai_prices.calc_price` (model search each call).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import time
from collections.abc import Callable

from genai_prices import calc_price
from genai_prices.data_snapshot import get_snapshot

from majordomo_otel.gateway.pricing import Pricer, price_usage
from majordomo_otel.gateway.usage import Usage, reader_for

EVENTS = 20_000
CHUNK = 4096  # bytes per feed(), about what aiohttp hands over per read
JSON = "application/json"
SSE = "text/event-stream"


def _openai_chat_stream() -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18", "usage": None}
    events = [
        "data: "
        + json.dumps(
            {**chunk, "choices": [{"index": 0, "delta": {"content": f"token {i} "}}]}, separators=(",", ":")
        )
        for i in range(EVENTS)
    ]
    usage = {"prompt_tokens": 10, "completion_tokens": EVENTS, "total_tokens": EVENTS + 10}
    events.append("data: " + json.dumps({**chunk, "choices": [], "usage": usage}, separators=(",", ":")))
    events.append("data: [DONE]")
    return ("\n\n".join(events) + "\n\n").encode()


def _anthropic_stream() -> bytes:
    start = {
        "type": "message_start",
        "message": {"model": "claude-sonnet-4-5-20250929", "usage": {"input_tokens": 10, "output_tokens": 1}},
    }
    events = [f"event: message_start\ndata: {json.dumps(start)}"]
    for i in range(EVENTS):
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": f"token {i} "},
        }
        events.append(f"event: content_block_delta\ndata: {json.dumps(delta)}")
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": EVENTS},
    }
    events += [
        f"event: message_delta\ndata: {json.dumps(delta)}",
        'event: message_stop\ndata: {"type":"message_stop"}',
    ]
    return ("\n\n".join(events) + "\n\n").encode()


def _gemini_stream() -> bytes:
    events = []
    for i in range(EVENTS):
        chunk = {
            "candidates": [{"content": {"parts": [{"text": f"token {i} "}], "role": "model"}}],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": i + 1,
                "totalTokenCount": i + 11,
            },
            "modelVersion": "gemini-2.5-flash",
        }
        events.append("data: " + json.dumps(chunk))
    return ("\r\n\r\n".join(events) + "\r\n\r\n").encode()


def _bench_reader(name: str, provider: str, operation: str, wire: bytes, encoding: str | None = None) -> None:
    plain = len(gzip.decompress(wire)) if encoding == "gzip" else len(wire)
    chunks = [wire[i : i + CHUNK] for i in range(0, len(wire), CHUNK)]
    best = float("inf")
    for _ in range(5):
        reader = reader_for(provider, operation, streamed=True, content_type=SSE, content_encoding=encoding)
        t0 = time.perf_counter()
        for c in chunks:
            reader.feed(c)
        result = reader.finish()
        best = min(best, time.perf_counter() - t0)
    assert result.usage.reported, result
    print(
        f"  {name:<34} {plain / 1e6:6.2f} MB  {plain / best / 1e6:8.1f} MB/s  "
        f"{best / EVENTS * 1e6:6.2f} µs/event  ({result.status.value})"
    )


def _per_call(fn: Callable[[], object], n: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _bench_pricing() -> None:
    usage = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=1024, reasoning_tokens=100)
    pricer = Pricer()
    cases = [
        ("openai", "openai", "gpt-4o-mini-2024-07-18"),
        ("anthropic", "anthropic", "claude-sonnet-4-5-20250929"),
        ("gemini", "google", "gemini-2.5-flash"),
    ]
    for provider, provider_id, model in cases:
        ours = _per_call(lambda p=provider, m=model: pricer.price(p, m, usage), 2000)
        ref = _per_call(
            lambda m=model, pid=provider_id: calc_price(price_usage(usage), m, provider_id=pid), 2000
        )

        def first_lookup(m: str = model, pid: str = provider_id) -> None:
            get_snapshot()._lookup_cache.clear()  # what a search costs before genai-prices caches a hit
            calc_price(price_usage(usage), m, provider_id=pid)

        cold = _per_call(first_lookup, 300)
        print(
            f"  {model:<30} Pricer.price {ours:6.1f} µs   calc_price {ref:6.1f} µs "
            f"(uncached search: {cold:6.1f} µs)"
        )

    def unknown_ref() -> None:
        with contextlib.suppress(LookupError):
            calc_price(price_usage(usage), "gpt-unknown-model", provider_id="openai")

    ours = _per_call(lambda: pricer.price("openai", "gpt-unknown-model", usage), 5000)
    ref = _per_call(unknown_ref, 500)
    print(f"  {'unknown model':<30} Pricer.price {ours:6.1f} µs   calc_price {ref:6.1f} µs")


def main() -> None:
    print(f"usage readers ({EVENTS} events, fed in {CHUNK}-byte chunks, best of 5):")
    _bench_reader("openai chat SSE (include_usage)", "openai", "chat_completions", _openai_chat_stream())
    anthropic = _anthropic_stream()
    _bench_reader("anthropic messages SSE", "anthropic", "messages", anthropic)
    _bench_reader("anthropic messages SSE, gzip", "anthropic", "messages", gzip.compress(anthropic), "gzip")
    _bench_reader("gemini SSE (usage in every event)", "gemini", "generate_content", _gemini_stream())
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "choices": [{"message": {"content": "x" * 2_000_000}}],
            "usage": {"prompt_tokens": 1},
        }
    ).encode()
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    t0 = time.perf_counter()
    reader = reader_for(
        "openai", "chat_completions", streamed=False, content_type="application/json", content_encoding=None
    )
    for c in chunks:
        reader.feed(c)
    reader.finish()
    dt = time.perf_counter() - t0
    print(f"  {'openai chat JSON body':<34} {len(body) / 1e6:6.2f} MB  {len(body) / dt / 1e6:8.1f} MB/s")
    print("pricing, per call:")
    _bench_pricing()


if __name__ == "__main__":
    main()
