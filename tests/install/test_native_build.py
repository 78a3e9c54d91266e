"""The C span encoder is optional: a build with a compiler carries it (and is tagged for this platform),
`MAJORDOMO_PURE_PYTHON=1` (standing in for a machine without one) builds a pure-Python wheel that works."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
NATIVE = "majordomo_otel/gateway/otlp/_wire_native"


def _wheel(out: Path, **env: str) -> Path:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAJORDOMO_")} | env
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env=environ,
        timeout=300,
    )
    [wheel] = out.glob("majordomo_otel-*.whl")
    return wheel


def _native_members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if name.startswith(NATIVE) and name.endswith(".so")]


def test_a_build_with_a_compiler_carries_the_c_encoder(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    members = _native_members(wheel)
    assert (len(members), "-none-any" in wheel.name) == (1, False)


def test_a_build_without_it_is_pure_python_and_still_encodes_spans(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "dist", MAJORDOMO_PURE_PYTHON="1")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    probe = (
        "from opentelemetry.sdk.resources import Resource;"
        "from opentelemetry.sdk.util.instrumentation import InstrumentationScope;"
        "from majordomo_otel.gateway.otlp.encode import SpanEncoder;"
        "from majordomo_otel.gateway.span_plan import SpanPlan;"
        "from opentelemetry.trace import StatusCode;"
        "e = SpanEncoder(Resource.create({}), InstrumentationScope('s'));"
        "p = SpanPlan(None, None); p.end_ns = p.start_ns + 1;"
        "print(e.native, len(e.spans(p, 'n', {'a': 'b'}, (StatusCode.UNSET, None), (StatusCode.UNSET, None))) > 0)"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        cwd=tmp_path,
        check=False,
    )
    assert (wheel.name.endswith("-py3-none-any.whl"), _native_members(wheel), run.stdout, run.stderr) == (
        True,
        [],
        "False True\n",
        "",
    )
