"""The one request validator: every query string, path parameter and JSON body is checked
against its operation's JSON Schemas from the OpenAPI document before a resource runs.

The parsed body is left on ``req.context.body``. Every refusal is a problem document whose
``errors`` name each field: bad JSON (400), wrong content type (415), oversized body (413),
wrong types, unknown fields, huge numbers and schema violations (422).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from loket.core.text import storable
from loket.errors import BadRequest, NotFound, TooLarge, UnsupportedMediaType, ValidationFailed
from loket.server import openapi

MAX_INT_DIGITS = 15  # beyond this an integer is refused ("huge number"), before any use
_INT = re.compile(r"^-?\d+$")


class _Huge:
    """Stands in for a number too large to accept, so the error can name its field."""

    def __init__(self, text: str):
        self.text = text


def _parse_int(text: str):
    digits = text.lstrip("-")
    return _Huge(text) if len(digits) > MAX_INT_DIGITS else int(text)


def _parse_decimal(text: str):
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    if len(mantissa) > MAX_INT_DIGITS or "e" in text.lower():
        return _Huge(text)
    return Decimal(text)


UNSTORABLE = "text contains a NUL character or a lone UTF-16 surrogate"


class _DuplicateKey(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str):
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """Build a JSON object, refusing a repeated key (JSON would silently keep the last)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def field_name(path) -> str:
    """``("items", 0, "kind")`` -> ``items[0].kind``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _huge_fields(node, path=()) -> list[str]:
    if isinstance(node, _Huge):
        return [field_name(path) or "body"]
    if isinstance(node, str) and not storable(node):
        return [field_name(path) or "body"]
    if isinstance(node, dict):
        return [f for k, v in node.items() for f in _huge_fields(v, path + (k,))]
    if isinstance(node, list):
        return [f for i, v in enumerate(node) for f in _huge_fields(v, path + (i,))]
    return []


def _message(error) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "type" and isinstance(error.instance, (int, Decimal)) and \
            not isinstance(error.instance, bool) and schema.get("type") == "string" and \
            schema.get("x-money"):
        return ("must be a decimal string such as \"120.50\"; JSON numbers are not accepted "
                "for money")
    if error.validator == "pattern" and schema.get("x-money"):
        return "must be a decimal string such as \"120.50\" (no sign, at most 12 digits)"
    if error.validator == "type":
        return f"must be of type {schema.get('type')}"
    # The rules below are worded without the value: it may be a credential (a signed URL,
    # a key pasted into the wrong field) and an error is shown and logged.
    if error.validator == "pattern":
        return f"must match the pattern {error.validator_value}"
    if error.validator == "maxLength":
        return f"must be at most {error.validator_value} characters long"
    if error.validator == "minLength":
        return ("must not be empty" if error.validator_value == 1
                else f"must be at least {error.validator_value} characters long")
    if error.validator == "enum":
        return f"must be one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "format":
        return f"must be a valid {error.validator_value}"
    return _WORDED.get(error.validator, "is not valid for this operation").format(
        error.validator_value)


_WORDED = {
    "maxProperties": "must have at most {} fields",
    "minProperties": "must have at least {} fields",
    "maxItems": "must have at most {} items",
    "minItems": "must have at least {} items",
    "uniqueItems": "must not repeat an item",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be more than {}",
    "exclusiveMaximum": "must be less than {}",
    "multipleOf": "must be a multiple of {}",
    "const": "must be {}",
    "oneOf": "does not match exactly one of the accepted forms",
    "anyOf": "does not match any of the accepted forms",
    "not": "is not accepted here",
    "propertyNames": "has a field name that is not accepted",
    "dependentRequired": "lacks a field that goes with another",
}
"""The other rules, worded without the value (never ``error.message``, which quotes it)."""


def schema_errors(validator, instance, prefix: tuple = ()) -> list[dict]:
    """Every violation as ``{field, message}``; unknown and missing fields are named one by
    one."""
    out = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        path = prefix + tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            for name in sorted(set(error.instance) - known):
                out.append({"field": field_name(path + (name,)),
                            "message": "unknown field; it is not part of this operation"})
        elif error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    out.append({"field": field_name(path + (name,)), "message": "is required"})
        else:
            out.append({"field": field_name(path) or (prefix[0] if prefix else "body"),
                        "message": _message(error)})
    # jsonschema reports a "required" error per missing property, each carrying the whole
    # list: each field's error is given once.
    unique: list[dict] = []
    for entry in out:
        if entry not in unique:
            unique.append(entry)
    return unique


def _keys_with_nul(node, path=()) -> list[str]:
    if isinstance(node, dict):
        return [field_name(path + (k,)) for k in node if not storable(k)] + [
            f for k, v in node.items() for f in _keys_with_nul(v, path + (k,))]
    if isinstance(node, list):
        return [f for i, v in enumerate(node) for f in _keys_with_nul(v, path + (i,))]
    return []


def _bad_value(field: str, query: dict) -> str:
    value = query.get(field.split("[")[0])
    text = value if isinstance(value, str) else ""
    return UNSTORABLE if not storable(text) else "number is too large"


def _coerce(schema: dict, values: list[str]):
    kind = schema.get("type")
    if kind == "array":
        return [_coerce(schema.get("items", {}), [v]) for v in values]
    value = values[-1]
    if kind == "integer" and _INT.match(value):
        return _Huge(value) if len(value.lstrip("-")) > MAX_INT_DIGITS else int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def parse_query(operation, req) -> dict:
    """Turn the query string into typed values by the operation's parameter schemas."""
    values: dict[str, list[str]] = {}
    for name, value in req.params.items():
        values[name] = value if isinstance(value, list) else [value]
    query, errors = {}, []
    for name, raw in values.items():
        schema = operation.query.get(name)
        if schema is None:
            errors.append({"field": name, "message": "unknown query parameter"})
            continue
        if len(raw) > 1 and schema.get("type") != "array":
            errors.append({"field": name, "message": "give this parameter once"})
            continue
        # An empty value of a closed list (``reason=``) is refused, not taken for "any";
        # an empty free-text value is as good as none.
        closed = "enum" in schema or "enum" in schema.get("items", {})
        if schema.get("type") == "array":
            raw = [part for item in raw for part in item.split(",") if part != "" or closed]
            if not raw:
                continue
        elif raw[-1] == "" and not closed:
            continue
        query[name] = _coerce(schema, raw)
    errors += [{"field": f, "message": _bad_value(f, query)} for f in _huge_fields(query)]
    if errors:
        raise ValidationFailed("the query string is invalid", errors=errors)
    return query


def read_json_body(req, limit: int):
    """Read and parse a JSON body of at most ``limit`` bytes (``None`` when empty)."""
    if req.content_length is not None and req.content_length > limit:
        raise TooLarge(f"the body is larger than {limit} bytes", field="body")
    raw = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes", field="body")
    if not raw.strip():
        return None
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("send the body as application/json",
                                   field="Content-Type")
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_decimal,
                          parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8", field="body") from None
    except _DuplicateKey as exc:
        field = exc.key if storable(exc.key) else "body"
        raise ValidationFailed(f"{exc}: send each field once", errors=[
            {"field": field, "message": "appears more than once in the same object"}]) from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="body") from None


class ValidationMiddleware:
    """Validates path parameters, the query string and the JSON body of every documented
    operation (webhooks are documented with ``x-raw-body`` and keep their bytes)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_resource(self, req, resp, resource, params):
        """Set ``req.context.query`` and ``req.context.body`` or raise a 4xx problem."""
        req.context.query = {}
        req.context.body = None
        operation = openapi.operations().get((req.method, req.uri_template or ""))
        if operation is None or resource is None:
            # Pages (console, payers): no schema, but no path names a row with such text.
            if resource is not None and not all(
                    storable(str(v)) for v in (params or {}).values()):
                raise NotFound("no such page")
            return
        errors = schema_errors(operation.path_validator, dict(params)) + [
            {"field": f, "message": UNSTORABLE} for f in _huge_fields(dict(params))]
        if errors:
            raise ValidationFailed("a path parameter is invalid", errors=errors)
        query = parse_query(operation, req)
        errors = schema_errors(operation.validator, query)
        if errors:
            raise ValidationFailed("the query string is invalid", errors=errors)
        req.context.query = query
        if operation.raw_body:
            return
        body = read_json_body(req, self.ctx.config.max_body_bytes)
        if operation.body_validator is None:
            if body not in (None, {}):
                raise ValidationFailed("this operation takes no body", field="body")
            return
        if body is None:
            if operation.body_required:
                raise ValidationFailed("a JSON body is required", field="body")
            body = {}
        huge = _huge_fields(body) + [k for k in _keys_with_nul(body)]
        if huge:
            raise ValidationFailed("a value cannot be accepted", errors=[
                {"field": f, "message": f"number is too large or {UNSTORABLE}"}
                for f in huge])
        errors = schema_errors(operation.body_validator, body)
        if errors:
            raise ValidationFailed("the request body is invalid", errors=errors)
        req.context.body = body
