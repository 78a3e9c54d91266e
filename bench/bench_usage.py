"""Benchmarks for the gateway's hot path: usage readers and pricing.

Run: `python bench/bench_usage.py` (a few seconds; `--pricing`: the pricing part only).
Prints reader throughput (MB/s, µs per SSE event) for long synthetic streams fed in
network-sized chunks, and the per-call cost of pricing: `Pricer.price` (compiled plan) before
vs after, and `genai_prices.calc_price`, over thousands of different usages per model (so no
memoization hides the arithmetic).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import sys
import time
from collections.abc import Callable

from genai_prices import calc_price
from genai_prices.data_snapshot import get_snapshot

from majordomo_otel.gateway.pricing import GENAI_PRICES_PROVIDER_IDS, Pricer, price_usage
from majordomo_otel.gateway.usage import Usage, reader_for

EVENTS = 20_000
CHUNK = 4096  # bytes per feed(), about what aiohttp hands over per read
JSON = "application/json"
SSE = "text/event-stream"


def _openai_chat_stream() -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18", "usage": None}
    events = [
        "data: "
        + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": f"token {i} "}}]}, separators=(",", ":"))
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


def _per_call(fn: Callable[[Usage], object], usages: list[Usage], rounds: int = 5) -> float:
    """Best-of-`rounds` µs per call of `fn` over `usages` (all different, so nothing is memoized)."""
    for u in usages[:100]:
        fn(u)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for u in usages:
            fn(u)
        best = min(best, time.perf_counter() - t0)
    return best / len(usages) * 1e6


def _usages(n: int, *, cache_write: bool, audio: bool) -> list[Usage]:
    """`n` different realistic usages (cache reads, reasoning, prompts on both sides of 200k)."""
    rng = random.Random(7)
    out = []
    for _ in range(n):
        total_in = rng.choice([rng.randint(10, 5_000), rng.randint(5_000, 260_000)])
        cached = rng.randint(0, total_in // 2)
        written = rng.randint(0, total_in - cached) if cache_write else None
        reasoning = rng.randint(0, 2_000)
        cached_audio = rng.randint(0, cached)
        out.append(
            Usage(
                input_tokens=total_in,
                output_tokens=reasoning + rng.randint(1, 4_000),
                cache_read_tokens=cached,
                cache_write_tokens=written,
                cache_write_1h_tokens=rng.randint(0, written) if written else None,
                reasoning_tokens=reasoning,
                input_audio_tokens=cached_audio + rng.randint(0, total_in - cached) if audio else None,
                cache_audio_read_tokens=cached_audio if audio else None,
            )
        )
    return out


def _bench_pricing() -> None:
    """`Pricer.price` (compiled plan) against the previous `Pricer.price`, which was the cached
    model lookup plus genai-prices' `ModelInfo.calc_price` (still the fallback: `_genai_price`),
    and against a bare `calc_price` (model search cached by genai-prices after the first hit)."""
    pricer = Pricer()
    cases = [
        ("openai", "gpt-4o-mini-2024-07-18", False, False),
        ("openai", "gpt-5", False, False),
        ("openai", "o3", False, False),  # prices with start dates
        ("anthropic", "claude-3-5-haiku", True, False),
        ("anthropic", "claude-sonnet-4-5-20250929", True, False),  # tiered at 200k
        ("gemini", "gemini-2.5-flash", False, True),  # audio priced apart
        ("gemini", "gemini-2.5-pro", False, False),  # tiered at 200k
    ]
    n = 5_000
    print(f"  {'model':<28} {'before':>8} {'after':>8} {'ratio':>7} {'calc_price':>11}   (µs per call, {n} usages)")
    for provider, model, cache_write, audio in cases:
        usages = _usages(n, cache_write=cache_write, audio=audio)
        entry = pricer._resolve(provider, model)
        assert entry is not None
        for u in usages[:500]:  # the plan prices exactly as genai-prices does
            assert pricer.price(provider, model, u) == pricer._genai_price(entry, u, None, None)
        after = _per_call(lambda u, p=provider, m=model: pricer.price(p, m, u), usages)
        before = _per_call(lambda u, e=entry: Pricer._genai_price(e, u, None, None), usages[:1000], rounds=3)
        pid = GENAI_PRICES_PROVIDER_IDS[provider]
        ref = _per_call(lambda u, m=model, pid=pid: calc_price(price_usage(u), m, provider_id=pid), usages[:1000], 3)
        print(f"  {model:<28} {before:8.1f} {after:8.2f} {before / after:6.0f}x {ref:11.1f}")

    def first_lookup(u: Usage) -> None:
        get_snapshot()._lookup_cache.clear()  # what a search costs before genai-prices caches a hit
        calc_price(price_usage(u), "gpt-4o-mini", provider_id="openai")

    usages = _usages(300, cache_write=False, audio=False)
    print(f"  uncached model search + calc_price: {_per_call(first_lookup, usages, rounds=1):6.1f} µs")

    def unknown_ref(u: Usage) -> None:
        with contextlib.suppress(LookupError):
            calc_price(price_usage(u), "gpt-unknown-model", provider_id="openai")

    ours = _per_call(
        lambda u: pricer.price("openai", "gpt-unknown-model", u), _usages(5_000, cache_write=False, audio=False)
    )
    ref = _per_call(unknown_ref, usages, rounds=1)
    print(f"  unknown model: Pricer.price {ours:6.2f} µs   calc_price {ref:6.1f} µs")


def main() -> None:
    if "--pricing" in sys.argv:  # just the pricing part
        print("pricing, per call:")
        _bench_pricing()
        return
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
