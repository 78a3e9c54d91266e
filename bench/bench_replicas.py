"""Three gateway replicas on one PostgreSQL behind a real HAProxy, under load: the CI harness
(tests/gateway/replicas/) at the concurrency you choose, its counts printed.

One replica is SIGKILLed and restarted, a key revoked, the database cut and restored, while clients send
chat requests through HAProxy; the harness asserts every delivered response has exactly one row. Needs
haproxy (`apt-get install -y haproxy`) and PostgreSQL at 127.0.0.1:5432.

    python bench/bench_replicas.py [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = (
    "tests/gateway/replicas/test_replicas_haproxy.py::"
    "test_replicas_keep_one_row_per_response_through_a_kill_a_revocation_and_a_database_outage"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32, help="clients sending through HAProxy")
    args = parser.parse_args()
    env = {**os.environ, "MAJORDOMO_REPLICAS_CONCURRENCY": str(args.concurrency)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:warnings", "-p", "no:cacheprovider", TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    counts = re.search(r"replicas: (\{.*?\}), (\d+) not delivered", done.stdout)
    print(f"replicas behind HAProxy, concurrency {args.concurrency}, {time.monotonic() - started:.0f} s")
    if counts is None or done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
        print("bench_replicas: the harness failed (output above)", file=sys.stderr)
        return 1
    print(f"rows vs delivered responses: {counts[1]}; {counts[2]} not delivered (in flight on the killed replica)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
