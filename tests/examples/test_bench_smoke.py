"""Every bench script is in bench/smoke.sh, which CI runs, so none silently stops working."""

from __future__ import annotations

import re
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench"


def test_every_bench_script_is_smoke_run() -> None:
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    smoked = set(re.findall(r"^run (\S+\.py)", (BENCH / "smoke.sh").read_text(), re.MULTILINE))
    assert smoked == scripts
