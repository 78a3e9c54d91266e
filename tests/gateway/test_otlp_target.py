"""Which span export a gateway runs, read from the standard `OTEL_*` variables as the SDK's exporters read them."""

from __future__ import annotations

import pytest

from majordomo_otel._otlp import TracesTarget, traces_target
from majordomo_otel.gateway.spans import build_span_pipeline


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
            TracesTarget("http/protobuf", "http://collector:4318/v1/traces", (), 10.0, "none"),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://logfire.example/v1/traces",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-general=1",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer%20tok",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "3",
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "GZIP",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
            },
            TracesTarget(
                "http/protobuf",
                "https://logfire.example/v1/traces",
                (("authorization", "Bearer tok"),),
                3.0,
                "gzip",
                certificate="/ca.pem",
            ),
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            TracesTarget("grpc", "collector:4317", (), 10.0, "none", insecure=True),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4317",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",  # https wins
                "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/general.key",
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/traces-ca.pem",  # then only TRACES_ files count
            },
            TracesTarget("grpc", "collector:4317", (), 10.0, "none", insecure=False, certificate="/traces-ca.pem"),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "TRUE",
            },
            TracesTarget("grpc", "collector:4317", (), 10.0, "none", insecure=True),
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, None),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318"}, None),
        ({}, None),
    ],
    ids=["http", "http-traces-specific", "grpc", "grpc-tls", "grpc-bare-host", "traces-off", "metrics-only", "none"],
)
def test_the_target_follows_the_sdk_s_precedence(env: dict[str, str], expected: TracesTarget | None) -> None:
    assert traces_target(env) == expected


def test_a_credential_provider_plug_in_keeps_the_sdk_route() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "my_session",
    }
    output, _ = build_span_pipeline(environ=env)
    try:
        assert type(output).__name__ == "SdkSpans"
    finally:
        assert output is not None
        output.shutdown()


def test_an_endpoint_that_is_no_url_stops_the_start_with_one_line_saying_what_to_set() -> None:
    with pytest.raises(
        ValueError, match=r"^span export endpoint 'collector:x/v1/traces' is not .* set OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        build_span_pipeline(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "u:s3cret@collector:x"})


def test_shown_endpoints_carry_no_credentials() -> None:
    target = TracesTarget("http/protobuf", "https://user:s3cret@collector:4318/v1/traces?token=abc", (), 10, "none")
    assert target.shown == "https://collector:4318/v1/traces (http/protobuf)"
