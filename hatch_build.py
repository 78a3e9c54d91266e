"""Build hook: compiles the span encoder's C part (`otlp/_wire_native.c`) when a C compiler is there.

Optional by design: without a compiler (or with MAJORDOMO_PURE_PYTHON=1) the package installs as pure
Python and the gateway encodes spans with `otlp/wire.py`, byte for byte the same, at about twice the
span cost. An editable install builds the module next to its source, a wheel carries it (and is then
tagged for this platform).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/majordomo_otel/gateway/otlp/_wire_native.c")
MODULE = "majordomo_otel.gateway.otlp._wire_native"


class NativeWireHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("MAJORDOMO_PURE_PYTHON") == "1":
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        try:
            built = _compile(root / SOURCE, Path(tempfile.mkdtemp(prefix="majordomo-native-")))
        except Exception as exc:  # no compiler, no headers: pure Python it is
            print(f"majordomo-otel: C span encoder not built ({exc}); using the pure-Python one", file=sys.stderr)
            return
        if version == "editable":  # imported from src/: the module goes next to its source
            shutil.copy2(built, root / SOURCE.with_name("_wire_native" + suffix))
        else:
            build_data["force_include"][str(built)] = MODULE.replace(".", "/") + suffix
        build_data["pure_python"] = False
        build_data["infer_tag"] = True


def _compile(source: Path, out_dir: Path) -> Path:
    """setuptools' build_ext for the one module, into `out_dir`; returns the built file."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    extension = Extension(MODULE, [str(source)], extra_compile_args=["-O2"])
    distribution = Distribution({"name": "majordomo-otel-native", "ext_modules": [extension]})
    command = build_ext(distribution)
    command.build_lib = str(out_dir)
    command.build_temp = tempfile.mkdtemp(prefix="majordomo-native-build-")
    command.ensure_finalized()
    command.run()
    return Path(command.get_ext_fullpath(MODULE))
