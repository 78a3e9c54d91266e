"""Where the examples send their requests: your gateway when you have keys, a local one when you do not.

With `MAJORDOMO_GATEWAY_URL`, `MAJORDOMO_API_KEY` and the provider keys an example needs all set, the
examples talk to that gateway and the real providers. Otherwise `gateway()` starts the local stand-in
providers and a real gateway in front of them (SQLite, auth on, a fresh key), points the `MAJORDOMO_*`
variables at it for the duration, and prints the records the example left. The example code is the same
either way. `MAJORDOMO_EXAMPLES_OFFLINE=1` forces offline; `MAJORDOMO_EXAMPLES_DB=path` keeps the
offline database there (the tests read it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from majordomo_otel.demo import LocalStack, local_stack, patched_environ

PROVIDER_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}

_stack: LocalStack | None = None


def is_online(*providers: str) -> bool:
    needed = ["MAJORDOMO_GATEWAY_URL", "MAJORDOMO_API_KEY", *(PROVIDER_KEYS[p] for p in providers)]
    forced_offline = os.environ.get("MAJORDOMO_EXAMPLES_OFFLINE", "") not in ("", "0")
    return not forced_offline and all(os.environ.get(name) for name in needed)


def provider_url() -> str | None:
    """A provider's own base URL for "before Majordomo" code: None (SDK default) online, the stand-in offline."""
    return _stack.sim_url if _stack is not None else None


@contextmanager
def gateway(*providers: str) -> Iterator[None]:
    """Run the body against the configured gateway (online) or a local gateway + stand-in (offline)."""
    global _stack
    if is_online(*providers):
        print(f"using the gateway at {os.environ['MAJORDOMO_GATEWAY_URL']} and the real providers")
        yield
        return
    kept = os.environ.get("MAJORDOMO_EXAMPLES_DB")
    workdir = None if kept else Path(tempfile.mkdtemp(prefix="majordomo-example-"))
    db_path = Path(kept) if kept else workdir / "example.db"  # type: ignore[operator]
    try:
        with local_stack(db_path) as stack, patched_environ(stack.client_environ()):
            print(f"offline: a local gateway ({stack.url}) in front of stand-in providers; no keys needed")
            _stack = stack
            try:
                yield
            finally:
                _stack = None
            _print_records(stack)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _print_records(stack: LocalStack) -> None:
    rows = stack.query(
        "SELECT provider, model, raw_metadata, input_tokens, output_tokens, total_cost "
        "FROM llm_requests ORDER BY requested_at"
    )
    print(f"\nthe gateway recorded {len(rows)} request(s):")
    for row in rows:
        tags = ", ".join(f"{k}={v}" for k, v in json.loads(row["raw_metadata"]).items())
        cost = f"${row['total_cost']:.8f}" if row["total_cost"] is not None else "unpriced"
        print(
            f"  {row['provider']:<13} {row['model'] or '?':<28} in={row['input_tokens']:<5} "
            f"out={row['output_tokens']:<4} {cost:<12} {tags}"
        )
