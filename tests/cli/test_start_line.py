"""The gateway's start line says where to point clients, where records and spans go, and whether auth is on."""

from __future__ import annotations

import pytest

from majordomo_otel.gateway.app import GATEWAY, create_app
from majordomo_otel.gateway.serve import start_line
from majordomo_otel.gateway.settings import Settings


def test_the_start_line_names_everything_a_person_needs_and_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    settings = Settings(
        port=9000,
        database_url="postgresql://gw:s3cret@db:5432/ledger",
        openai_base_url="http://sim:1",
        auth=False,
        providers={"vllm": {"base_url": "http://gpu:8000/v1"}},
    )
    assert start_line(settings, create_app(settings)[GATEWAY].providers) == (
        "majordomo gateway on http://127.0.0.1:9000 (clients: MAJORDOMO_GATEWAY_URL=http://127.0.0.1:9000); "
        "store postgresql://gw:***@db:5432/ledger; upstreams openai http://sim:1/v1, "
        "anthropic https://api.anthropic.com, gemini https://generativelanguage.googleapis.com, "
        "gemini-openai https://generativelanguage.googleapis.com/v1beta/openai, "
        "vllm http://gpu:8000/v1 (+7 more by /<provider>/ prefix); auth OFF; "
        "spans http://collector:4318 (http/protobuf); metrics off"
    )
