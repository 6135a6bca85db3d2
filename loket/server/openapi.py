"""The OpenAPI 3.1 document (``openapi.yaml`` in this package): loaded once, served at
``GET /openapi.json``, and compiled into one JSON Schema (Draft 2020-12) validator per
operation for the validation middleware."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from importlib import resources

import attrs
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from loket.server.openapi_examples import with_examples

DOC_URI = "urn:loket:openapi"
METHODS = ("get", "put", "post", "patch", "delete")


@functools.cache
def document() -> dict:
    """The parsed OpenAPI document (cached; treat as read-only)."""
    text = resources.files("loket.server").joinpath("openapi.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _absolute_refs(node):
    if isinstance(node, dict):
        return {k: (DOC_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#")
                    else _absolute_refs(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute_refs(v) for v in node]
    return node


def _deref(doc: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if not ref:
        return node
    target = doc
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return target


@attrs.frozen
class Operation:
    """One operation's request contract.

    :param query: name -> parameter schema; ``required_query`` the required names.
    :param body: the JSON body schema, ``None`` when the operation takes no body.
    :param raw_body: the body is not JSON to validate (webhooks keep it raw).
    """

    method: str
    path: str
    operation_id: str
    query: dict
    required_query: frozenset
    path_params: dict
    body: dict | None
    body_required: bool
    raw_body: bool
    validator: object
    path_validator: object
    body_validator: object | None


YEARS = range(1900, 3000)
"""The years a date or time loket takes may fall in: a payment's, a bill's or a filter's
(a wider one only overflows the arithmetic on it)."""

FORMATS = copy.deepcopy(jsonschema.Draft202012Validator.FORMAT_CHECKER)
"""The document's formats as the standard checks them, with ``date`` and ``date-time`` held
to :data:`YEARS` and a date-time to its offset (the standard's check of ``date-time`` needs a
package loket does not install, and skips it)."""


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if len(value) != 10 or dt.date.fromisoformat(value).year not in YEARS:
        raise ValueError("not a YYYY-MM-DD date")
    return True


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None or parsed.year not in YEARS:
        raise ValueError("not an RFC 3339 date-time with an offset")
    return True


def _validator(schema: dict, registry: Registry):
    return jsonschema.Draft202012Validator(_absolute_refs(schema), registry=registry,
                                           format_checker=FORMATS)


@functools.cache
def operations() -> dict[tuple[str, str], Operation]:
    """Every operation of the document by ``(METHOD, path template)``."""
    doc = document()
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(copy.deepcopy(doc), default_specification=DRAFT202012))
    out = {}
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [_deref(doc, p) for p in shared + op.get("parameters", [])]
            query = {p["name"]: p["schema"] for p in params if p["in"] == "query"}
            required = frozenset(p["name"] for p in params if p["in"] == "query"
                                 and p.get("required"))
            path_params = {p["name"]: p["schema"] for p in params if p["in"] == "path"}
            body_spec = op.get("requestBody")
            body = None
            if body_spec and "application/json" in body_spec.get("content", {}):
                body = body_spec["content"]["application/json"]["schema"]
            query_schema = {"type": "object", "properties": query,
                            "required": sorted(required), "additionalProperties": False}
            path_schema = {"type": "object", "properties": path_params}
            out[(method.upper(), path)] = Operation(
                method=method.upper(), path=path, operation_id=op["operationId"], query=query,
                required_query=required, path_params=path_params, body=body,
                body_required=bool(body_spec and body_spec.get("required")),
                raw_body=bool(op.get("x-raw-body")),
                validator=_validator(query_schema, registry),
                path_validator=_validator(path_schema, registry),
                body_validator=_validator(body, registry) if body is not None else None)
    return out


def _area(path: str) -> str:
    parts = [p for p in path.split("/") if p and p != "v1" and not p.startswith("{")]
    return parts[0] if parts else "loket"


@functools.cache
def served_document() -> dict:
    """The document as served: every operation carries the roles the role matrix lets call
    it (``x-roles``; ``["public"]`` for the operations without a key) and a tag naming its
    area, so the docs page says who may call what from the one source."""
    from loket.server import roles  # noqa: PLC0415 - roles is not needed to validate

    doc = copy.deepcopy(document())
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            key = (method.upper(), path)
            op.setdefault("x-roles", ["public"] if key in roles.PUBLIC
                          else list(roles.allowed(*key)))
            op.setdefault("tags", [_area(path)])
    return with_examples(doc)


class OpenApiDocument:
    """``GET /openapi.json``: the document as JSON, with each operation's roles."""

    def on_get(self, req, resp):
        """Serve the document."""
        resp.media = served_document()
