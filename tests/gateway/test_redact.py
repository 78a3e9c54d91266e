"""Query credentials are masked in every spelling a path or an error can carry them; other text is untouched."""

from __future__ import annotations

import pytest

from majordomo_otel._redact import hide_password, redact_url


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("/v1beta/models/m:generateContent?key=AIza123", "/v1beta/models/m:generateContent?key=***"),
        (
            "/v1beta/models/m:streamGenerateContent?alt=sse&key=AIza123",
            "/v1beta/models/m:streamGenerateContent?alt=sse&key=***",
        ),
        ("/v1beta/models/m%3Fkey=AIza123", "/v1beta/models/m%3Fkey=***"),
        ("/v1beta/models/m%3fKEY%3dAIza123", "/v1beta/models/m%3fKEY%3d***"),
        ("/x%26api_key=sk-1&alt=sse", "/x%26api_key=***&alt=sse"),
        (
            "ClientConnectorError: https://h/p?access_token=t0k 'x'",
            "ClientConnectorError: https://h/p?access_token=*** 'x'",
        ),
    ],
)
def test_a_query_credential_is_masked(text: str, masked: str) -> None:
    assert redact_url(text) == masked


@pytest.mark.parametrize(
    "text", ["/v1/chat/completions", "gpt-4o-mini", "/v1beta/models/gemini-2.5-flash:generateContent", "", "keyed"]
)
def test_text_with_no_query_is_returned_as_is(text: str) -> None:
    assert redact_url(text) is text


@pytest.mark.parametrize("text", ["/p?alt=sse", "/p%3Fx=1", "/p&monkey=1"])
def test_a_query_without_a_credential_is_unchanged(text: str) -> None:
    assert redact_url(text) == text


def test_a_database_password_is_hidden_in_userinfo_and_query() -> None:
    url = "postgresql://me:s3c@ret@db:5432/x?sslmode=require&password=s3cret"
    assert hide_password(url) == "postgresql://me:***@db:5432/x?sslmode=require&password=***"
