"""The API docs page shows an example for every operation: each JSON request body and each
successful JSON answer of the served document carries one, built from its schema."""

from __future__ import annotations

from loket.server.openapi import operations, served_document
from loket.server.openapi_examples import METHODS


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_every_json_body_and_successful_answer_has_an_example():
    missing = []
    for name, op in _operations(served_document()):
        contents = [("request", ((op.get("requestBody") or {}).get("content") or {}))]
        contents += [(str(code), (answer or {}).get("content") or {})
                     for code, answer in op["responses"].items() if str(code).startswith("2")]
        for where, content in contents:
            body = content.get("application/json")
            if body is not None and "example" not in body:
                missing.append(f"{name} {where}")
    assert not missing, missing


def test_most_operations_show_an_example():
    doc = served_document()
    operations = list(_operations(doc))
    shown = [name for name, op in operations if "example" in str(op)]
    assert len(shown) >= 0.9 * len(operations), sorted(
        set(name for name, _ in operations) - set(shown))


def test_request_examples_are_bodies_the_api_accepts():
    doc = served_document()
    refused = []
    for (method, path), op in operations().items():
        if op.body_validator is None:
            continue
        example = doc["paths"][path][method.lower()]["requestBody"]["content"][
            "application/json"]["example"]
        refused += [f"{method} {path}: {e.message}" for e in op.body_validator.iter_errors(example)]
    assert not refused, refused
