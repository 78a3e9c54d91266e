"""Tool-call arguments made from a JSON schema: required properties only, smallest plausible values."""

from __future__ import annotations

from inline_snapshot import snapshot

from majordomo_otel.sim._schema import args_from_schema


def test_scalars_enums_and_optional_properties() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "a": {"type": "array", "items": {"type": "string"}},
            "e": {"enum": ["x", "y"]},
            "c": {"const": 3},
            "optional": {"type": "string"},
        },
        "required": ["s", "i", "n", "b", "a", "e", "c"],
    }
    assert args_from_schema(schema) == snapshot({"s": "a", "i": 1, "n": 1.0, "b": True, "a": [], "e": "x", "c": 3})


def test_nested_objects_through_refs_and_nullable_unions() -> None:
    schema = {
        "$defs": {"City": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
        "type": "object",
        "properties": {
            "city": {"$ref": "#/$defs/City"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "kind": {"type": ["null", "boolean"]},
        },
        "required": ["city", "maybe", "kind"],
    }
    assert args_from_schema(schema) == snapshot({"city": {"name": "a"}, "maybe": 1, "kind": True})


def test_gemini_upper_case_types() -> None:
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}
    assert args_from_schema(schema) == {"n": 1}


def test_no_schema_gives_no_arguments() -> None:
    assert (args_from_schema(None), args_from_schema({})) == ({}, {})
