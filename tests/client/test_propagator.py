"""`MajordomoPropagator` on its own: scope, codec round trip, extract, composition."""

from __future__ import annotations

from opentelemetry import propagate

import majordomo_otel
from majordomo_otel import MajordomoPropagator, Tags
from majordomo_otel.propagator import GatewayBaggagePropagator, destination
from majordomo_otel.tags import get_tags, set_tags

AWKWARD = {"feature": "résumé ✓", "step": "a\r\nX-Injected: yes", "user_id": "100% sure", "session_id": "s-1"}


def _inject(url: str | None, tags: Tags) -> dict[str, str]:
    carrier: dict[str, str] = {}
    ctx = set_tags(tags)
    if url is None:
        MajordomoPropagator().inject(carrier, ctx)
    else:
        with destination(url):
            MajordomoPropagator().inject(carrier, ctx)
    return carrier


def test_unknown_destination_writes_nothing(exporter) -> None:
    assert _inject(None, Tags.build(feature="f")) == {}


def test_other_host_writes_nothing(exporter) -> None:
    assert _inject("http://example.com", Tags.build(feature="f")) == {}


def test_gateway_writes_encoded_values(exporter, gateway) -> None:
    assert _inject(gateway.url, Tags.build(**AWKWARD, extra={"example_framework": "pydantic-ai"})) == {
        "X-Majordomo-Feature": "r%C3%A9sum%C3%A9 %E2%9C%93",
        "X-Majordomo-Step": "a%0D%0AX-Injected: yes",
        "X-Majordomo-User-Id": "100%25 sure",
        "X-Majordomo-Session-Id": "s-1",
        "X-Majordomo-Example-Framework": "pydantic-ai",
        "X-Majordomo-Key": "mdm_sk_test",
    }


def test_gateway_origin_compares_default_port(exporter, gateway) -> None:
    majordomo_otel.instrument(gateway_url="https://gw.example.com, " + gateway.url, api_key="mdm_sk_test")
    try:
        assert _inject("https://gw.example.com:443/v1/x", Tags.build(step="s")) == {
            "X-Majordomo-Step": "s",
            "X-Majordomo-Key": "mdm_sk_test",
        }
    finally:
        majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")


def test_extract_round_trips(exporter, gateway) -> None:
    tags = Tags.build(**AWKWARD, extra={"example_framework": "pydantic-ai"})
    ctx = MajordomoPropagator().extract(_inject(gateway.url, tags))
    assert get_tags(ctx) == tags


def test_tags_from_headers_reports_problems(exporter) -> None:
    assert Tags.from_headers(
        [("X-Majordomo-Feature", "f"), ("X-Majordomo-Bad Key", "v"), ("X-Majordomo-Key", "k")]
    ) == (
        Tags.build(feature="f"),
        ["header X-Majordomo-Bad Key dropped: tag key out of bounds"],
    )


def test_global_textmap_is_tracecontext_scoped_baggage_majordomo(exporter) -> None:
    majordomo_otel.instrument()  # again: must not duplicate
    leaves = propagate.get_global_textmap()._propagators
    assert [type(p).__name__ for p in leaves] == [
        "TraceContextTextMapPropagator",
        "GatewayBaggagePropagator",
        "MajordomoPropagator",
    ]
    assert isinstance(leaves[1], GatewayBaggagePropagator)
