"""Python function calls per request (cProfile), this checkout's gateway against another checkout's.

    python bench/bench_calls.py --baseline-src OLD/src [--baseline-name NAME] [--requests 2000] [--stream]
    python bench/bench_calls.py --baseline-env MAJORDOMO_JOURNAL=off --baseline-name no-journal

Where bench_instructions says *how much* a change costs, this says *where*: the functions whose calls per
request differ most between the two gateways. Each gateway (SQLite records, a real key) serves `--requests`
requests in one run and `--requests / 5` in another, both under cProfile, and a function's calls per request
is the difference of its two counts over the difference of the request counts, so start-up and shut-down
cancel out. cProfile sees the event loop's thread only (the record writer's thread is not in these counts).
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from _gateways import VENV_BIN, clean_env, create_key, send, src_env
from _procs import free_port, stop, wait_listening

#: Starts the CLI's `main` under cProfile; the gateway exits on SIGTERM, so the profile is written.
_PROFILED_MAIN = (
    "import cProfile, sys; from majordomo_otel.cli import main; out = sys.argv.pop(1); cProfile.run('main()', out)"
)
Counts = dict[str, float]


def _label(func: tuple[str, int, str]) -> str:
    """`name (package/module.py)`: no line number, so a function that moved within its file still matches."""
    path, _line, name = func
    if path == "~":  # a builtin, e.g. <method 'get' of 'dict' objects>
        return re.sub(r" at 0x[0-9a-f]+", "", name)
    parts = Path(path).parts
    for anchor in ("majordomo_otel", "aiohttp", "multidict", "yarl", "opentelemetry", "asyncio", "sqlite3"):
        if anchor in parts:
            path = "/".join(parts[parts.index(anchor) :])
            break
    else:
        path = Path(path).name
    return f"{name} ({path})"


def _calls(profile: Path) -> Counts:
    counts: Counts = {}
    for func, entry in pstats.Stats(str(profile)).stats.items():  # type: ignore[attr-defined]
        label = _label(func)
        counts[label] = counts.get(label, 0.0) + float(entry[1])
    return counts


def _profile(
    tmp: Path, sim_url: str, src: Path | None, env: dict[str, str], name: str, requests: int, stream: bool
) -> Path:
    port = free_port()
    db = f"sqlite:///{tmp / f'{name}-{requests}.db'}"
    key = create_key(db, src)
    out = tmp / f"{name}-{requests}.prof"
    argv = [sys.executable, "-c", _PROFILED_MAIN, str(out), "gateway", "--port", str(port), "--database-url", db]
    argv += ["--openai-base-url", sim_url, "--spool-dir", str(tmp / f"spool-{name}-{requests}")]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=src_env(clean_env(**env), src)
    )
    wait_listening(port, proc)
    asyncio.run(send(name, f"http://127.0.0.1:{port}", key, requests, 8, stream=stream))
    stop(proc, timeout=60)
    if not out.exists():
        raise SystemExit(f"{name}: the profiled gateway wrote no profile (exit code {proc.returncode})")
    return out


def per_request(
    tmp: Path, sim_url: str, src: Path | None, env: dict[str, str], name: str, requests: int, stream: bool
) -> Counts:
    few = max(requests // 5, 1)
    small = _profile(tmp, sim_url, src, env, name, few, stream)
    large = _profile(tmp, sim_url, src, env, name, requests, stream)
    a, b = _calls(small), _calls(large)
    return {f: (b.get(f, 0.0) - a.get(f, 0.0)) / (requests - few) for f in a.keys() | b.keys()}


def table(ours: Counts, theirs: Counts, baseline: str, top: int) -> Iterable[str]:
    yield f"calls per request: this checkout {sum(ours.values()):,.1f}, {baseline} {sum(theirs.values()):,.1f}"
    yield ""
    yield f"| calls/req here | at {baseline} | difference | function |"
    yield "|---|---|---|---|"
    rows = [(ours.get(f, 0.0), theirs.get(f, 0.0), f) for f in ours.keys() | theirs.keys()]
    rows.sort(key=lambda r: -abs(r[0] - r[1]))
    for here, there, func in rows[:top]:
        if abs(here - there) < 0.05:
            break
        yield f"| {here:.2f} | {there:.2f} | {here - there:+.2f} | `{func}` |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src/ (default: this one)")
    parser.add_argument(
        "--baseline-env", action="append", default=[], metavar="NAME=VALUE", help="a setting of the baseline's only"
    )
    parser.add_argument("--baseline-name", default="baseline")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--stream", action="store_true", help="20-chunk streams instead of chat")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    sim_port = free_port()
    sim = subprocess.Popen(
        [str(VENV_BIN / "majordomo"), "sim", "--port", str(sim_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    )
    try:
        wait_listening(sim_port, sim)
        sim_url = f"http://127.0.0.1:{sim_port}"
        env = dict(item.split("=", 1) for item in args.baseline_env)
        ours = per_request(tmp, sim_url, None, {}, "here", args.requests, args.stream)
        theirs = per_request(tmp, sim_url, args.baseline_src, env, args.baseline_name, args.requests, args.stream)
    finally:
        stop(sim)
    print("\n".join(table(ours, theirs, args.baseline_name, args.top)))


if __name__ == "__main__":
    main()
