"""The provider table: built-in rows and presets are complete, config rows are checked before they are used."""

from __future__ import annotations

import pytest
from genai_prices.data_snapshot import get_snapshot

from majordomo_otel.gateway.providers import BUILTIN, Family, Provider, ProviderTable, StreamUsage


def test_every_builtin_row_is_priced_by_a_provider_genai_prices_knows() -> None:
    known = {p.id for p in get_snapshot().providers}
    assert {p.name: p.price_id for p in BUILTIN if p.price_id not in known} == {}


def test_every_builtin_row_says_where_it_lives_except_the_one_that_needs_your_resource() -> None:
    assert [p.name for p in BUILTIN if not p.configured] == ["azure"]


def test_names_are_unique_and_plain() -> None:
    names = [p.name for p in BUILTIN]
    assert (len(names), all(n.replace("-", "").isalnum() and n.islower() for n in names)) == (len(set(names)), True)


def test_a_provider_of_your_own_from_the_config_file() -> None:
    table = ProviderTable.build(config={"vllm": {"base_url": "http://gpu-box:8000/v1/", "price_id": "openai"}})
    assert table["vllm"] == Provider(
        name="vllm",
        family=Family.OPENAI,
        origin="http://gpu-box:8000",
        api_path="/v1",
        price_id="openai",
        otel_name="vllm",
        key_header="authorization",
    )


def test_the_config_file_gives_azure_its_resource() -> None:
    table = ProviderTable.build(config={"azure": {"base_url": "https://acme.openai.azure.com/openai"}})
    azure = table["azure"]
    assert (azure.configured, azure.base_url, azure.key_header, azure.query) == (
        True,
        "https://acme.openai.azure.com/openai",
        "api-key",
        (("api-version", "2024-10-21"),),
    )


def test_a_base_url_setting_moves_a_builtin_and_keeps_its_api_path() -> None:
    table = ProviderTable.build(origins={"openai": "http://127.0.0.1:9000/", "gemini-openai": "http://g:1/prefix"})
    assert (table["openai"].base_url, table["gemini-openai"].base_url) == (
        "http://127.0.0.1:9000/v1",
        "http://g:1/prefix/v1beta/openai",
    )


def test_config_rows_may_choose_family_stream_usage_and_key_header() -> None:
    table = ProviderTable.build(
        config={
            "claude-proxy": {
                "base_url": "https://llm.internal/anthropic",
                "family": "anthropic",
                "stream_usage": "always",
                "price_id": "anthropic",
            }
        }
    )
    row = table["claude-proxy"]
    assert (row.family, row.stream_usage, row.key_header, row.api_path) == (
        Family.ANTHROPIC,
        StreamUsage.ALWAYS,
        "x-api-key",
        "/anthropic",
    )


@pytest.mark.parametrize(
    ("name", "entry", "message"),
    [
        ("vllm", {"price_id": "openai"}, r"\[providers.vllm\]: base_url is required"),
        ("vllm", {"base_url": "gpu:8000"}, r"base URL must be http\(s\)://host"),
        ("vllm", {"base_url": "http://gpu/v1?x=1"}, r"must not have a query"),
        ("vllm", {"base_url": "http://gpu/v1", "familly": "openai"}, r"unknown key\(s\) familly"),
        ("vllm", {"base_url": "http://gpu/v1", "family": "cohere"}, r"\[providers.vllm\]: 'cohere' is not a valid"),
        ("Bad Name", {"base_url": "http://gpu/v1"}, r"provider name 'Bad Name'"),
    ],
)
def test_bad_config_rows_are_refused_with_the_reason(name: str, entry: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProviderTable.build(config={name: entry})


def test_no_gateway_module_but_the_table_names_a_provider() -> None:
    """Adding or removing a provider is an edit of providers.py (and the config), nothing else."""
    import ast
    from pathlib import Path

    import majordomo_otel.gateway as gateway

    names = {p.name for p in BUILTIN}
    found = {}
    for path in Path(gateway.__file__).parent.rglob("*.py"):
        if path.name == "providers.py":
            continue
        literals = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        if hits := sorted(names & {v for v in literals if isinstance(v, str)}):
            found[path.name] = hits
    assert found == {"pricing.py": ["groq"]}  # genai-prices' own provider id, in its Whisper special case
