"""Examples for the OpenAPI document: a plausible value for each request body and each
successful JSON answer, built from its schema, so every operation of the docs page shows
one (and ``tools/api_request_bodies.py`` writes the same samples into docs/api.md)."""

from __future__ import annotations

from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def resolve(spec: dict, schema: dict) -> dict:
    """``schema`` with its ``$ref`` followed (the referring keys kept over the target's)."""
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


NAMED = {
    "gateway": "sandbox", "account_number": "WU-10001", "account": "WU-10001",
    "reference": "INV-2025-001234", "kind": "bill", "method": "card", "currency": "USD",
    "email": "john.doe@example.com", "name": "John Doe", "phone": "+1 555 0100",
    "destination": "water", "description": "Water bill", "period": "January 2025",
}


def sample(spec: dict, schema: dict, depth: int = 0, name: str = "") -> Any:
    """A plausible value for ``schema`` (its example, default, first enum value...)."""
    schema = resolve(spec, schema)
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("allOf"):
        parts = [resolve(spec, part) for part in schema["allOf"]]
        merged: dict[str, Any] = {k: v for part in parts for k, v in part.items()
                                  if k not in ("properties", "required")}
        merged["properties"] = {k: v for part in parts
                                for k, v in (part.get("properties") or {}).items()}
        merged["required"] = [r for part in parts for r in part.get("required") or ()]
        return sample(spec, merged, depth, name)
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return sample(spec, schema[key][0], depth, name)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)[:3]
        if depth > 3:
            return {}
        out = {key: sample(spec, props[key], depth + 1, key) for key in props
               if key in required or (depth == 0 and resolve(spec, props[key]).get(
                   "type") == "array")}
        if not out and props and schema.get("minProperties"):
            first = next(iter(props))
            out[first] = sample(spec, props[first], depth + 1, first)
        return out
    if kind == "array":
        return [sample(spec, schema.get("items") or {}, depth + 1, name)]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if schema.get("format") == "date":
        return "2025-01-31"
    if schema.get("format") == "date-time":
        return "2025-01-31T09:00:00Z"
    if schema.get("pattern", "").startswith("^-?\\d") or "amount" in str(schema.get(
            "description", "")).lower():
        return "120.50"
    if schema.get("format") == "uri" or name.endswith("url"):
        return "https://host.example/loket/events"
    value = NAMED.get(name, "...")
    return value * -(-schema.get("minLength", 0) // len(value)) if schema.get(
        "minLength", 0) > len(value) else value


def with_examples(doc: dict) -> dict:
    """Give every operation of ``doc`` (changed in place, returned) an ``example`` on its JSON
    request body and on each successful JSON answer that has none."""
    for item in doc["paths"].values():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            contents = [((op.get("requestBody") or {}).get("content") or {})]
            contents += [(answer or {}).get("content") or {} for code, answer in
                         (op.get("responses") or {}).items() if str(code).startswith("2")]
            for content in contents:
                body = content.get("application/json")
                if body is not None and "example" not in body and "examples" not in body:
                    body["example"] = sample(doc, body.get("schema") or {})
    return doc
