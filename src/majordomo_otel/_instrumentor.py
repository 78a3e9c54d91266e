"""Entry point for `opentelemetry-instrument`: the same as calling `instrument()` at startup."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]


class MajordomoInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped in opentelemetry-instrumentation
    """Reads `MAJORDOMO_GATEWAY_URL` / `MAJORDOMO_API_KEY`; the distro has configured the provider by now."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        from .instrument import instrument

        instrument(tracer_provider=kwargs.get("tracer_provider"))

    def _uninstrument(self, **kwargs: Any) -> None:
        from .instrument import uninstrument

        uninstrument()
