#!/usr/bin/env bash
# Every bench script, briefly: proves they still run end to end (CI runs this; the numbers mean nothing).
# A new bench script must be added here (tests/examples/test_bench_smoke.py checks).
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {
  local start=$SECONDS
  python "$@" > "$out/log" 2>&1 || { echo "bench smoke: $*"; cat "$out/log"; exit 1; }
  echo "bench smoke: $* ($((SECONDS - start)) s)"
}

run bench_usage.py
run bench_store.py --records 200 --repeat 1
run bench_sim.py --seconds 0.3
run bench_client.py --rounds 1 --requests 10
# --baseline-src: the repo's own src/ stands in for an older checkout, so that path runs too. The targets
# chosen start every kind (SQLite, PostgreSQL + OTLP, a baseline checkout, both pass-through scripts).
run bench_gateway.py --rounds 1 --seconds 0.3 --ttfb-seconds 0.3 --warmup-seconds 0.1 --profile-seconds 1 \
    --baseline-src ../src --baseline-name self --targets "gateway postgres+auth+OTLP" uvicorn+httpx aiohttp+aiohttp \
    --out "$out/gateway.md"
run bench_spans.py --rounds 1 --seconds 0.3 --micro-requests 500 --out "$out/spans.md"
run soak_kill.py --rounds 2 --concurrency 8 --max-kill-after 0.5
run bench_budgets.py --rounds 1 --seconds 0.3 --warmup-seconds 0.1 --micro-requests 2000 --syncs 5 --out "$out/budgets.md"
run bench_workers.py --rounds 1 --seconds 1 --warmup-seconds 0.5 --pg '' --out "$out/workers.md"
run bench_partitions.py --rows 20000 --chunk 10000 --insert-records 1000 --batches 500 --methods copy --rounds 1 --repeat 1 --out "$out/partitions.md"
run bench_replicas.py --concurrency 4
run bench_wakeups.py --rounds 1 --seconds 1 --baseline-src ../src --baseline-name self
# callgrind is ~50x slower (~40 s to start a gateway): a handful of requests through this checkout's gateway.
run bench_instructions.py --requests 5 --warmup 2 --targets "gateway sqlite+auth" --out "$out/instructions.md"
run bench_calls.py --baseline-src ../src --baseline-name self --requests 50
echo "bench smoke: all passed"
