"""Arguments for a tool call, made from the tool's JSON schema: the smallest valid-looking value."""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 8


def args_from_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Required properties only: strings "a", integers 1, numbers 1.0, booleans true, arrays [], enums their
    first value, nested objects recursively ($ref into $defs / definitions followed)."""
    if not schema:
        return {}
    value = _value(schema, schema, 0)
    return value if isinstance(value, dict) else {}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    while isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node if isinstance(node, dict) else {}
        ref = schema.get("$ref")
    return schema


def _value(schema: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if options:
            chosen = next((o for o in options if _type_of(_resolve(o, root)) != "null"), options[0])
            return _value(chosen, root, depth)
    kind = _type_of(schema)
    if kind == "object" or (kind is None and "properties" in schema):
        if depth >= _MAX_DEPTH:
            return {}
        properties = schema.get("properties") or {}
        return {name: _value(properties.get(name) or {}, root, depth + 1) for name in schema.get("required") or ()}
    return _SCALARS.get(kind or "string", "a")


_SCALARS: dict[str, Any] = {
    "string": "a",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "null": None,
}


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), kind[0] if kind else None)
    return str(kind).lower() if kind is not None else None
