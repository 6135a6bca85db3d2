"""Money in a tenant's settings (thresholds, minimums, fixed fees): where the document holds
it, each amount checked against the tenant's currency, and amounts kept from before rewritten
to fit a new currency when that keeps their value. :mod:`loket.core.settings` uses it."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from loket.core.settings_schema import MONEY_SETTINGS
from loket.errors import ValidationFailed
from loket.money import ISO4217_DIGITS, parse_minor


def json_path(*keys: str) -> str:
    """The JSON path of ``keys`` as jsonschema writes it (``$.destinations['pay-a-bill']``),
    so every settings error names its field the same way."""
    return "$" + "".join(f".{key}" if _PLAIN_KEY.match(key) else
                         "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"
                         for key in keys)


_PLAIN_KEY = re.compile("^[a-zA-Z][a-zA-Z0-9_]*$")


def money_values(document: dict, path: tuple[str, ...] | None = None,
                 keys: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Each money setting ``document`` holds, as its keys and its value (every path of
    :data:`MONEY_SETTINGS`, ``*`` standing for each key there is)."""
    if path is None:
        for money_path in MONEY_SETTINGS:
            yield from money_values(document, money_path)
        return
    if not path:
        yield keys, document
        return
    if not isinstance(document, dict):
        return
    head, rest = path[0], path[1:]
    for name in (list(document) if head == "*" else [head] if head in document else []):
        yield from money_values(document[name], rest, (*keys, name))


def money_errors(merged: dict) -> list[dict[str, str]]:
    """One ``{field, message}`` per money setting that is not an amount in the document's
    currency (an unknown currency is :func:`save_settings`' to refuse)."""
    currency = merged.get("currency")
    if currency not in ISO4217_DIGITS:
        return []
    errors = []
    for keys, value in money_values(merged):
        field = json_path(*keys)
        try:
            parse_minor(value, currency, field=field)
        except ValidationFailed as exc:
            errors.append({"field": field, "message": exc.detail})
    return errors


def carried_over(document: dict, stored: dict | None) -> dict:
    """``document`` with each money setting it keeps unchanged from ``stored`` rewritten to
    fit its currency when that changes nothing of its value (``"500.00"`` is ``"500"`` in
    JPY): one written for the currency before, or saved before amounts were checked, does
    not block the save. A value that would change (``"10.50"`` in JPY) is left for
    validation to refuse, and one given anew is checked as given."""
    digits = ISO4217_DIGITS.get(str((document or {}).get("currency")))
    if stored is None or digits is None:
        return document
    before = dict(money_values(stored))
    kept = [(keys, fitted(value, digits)) for keys, value in money_values(document)
            if isinstance(value, str) and before.get(keys) == value]
    changes = [(keys, value) for keys, value in kept if value != before[keys]]
    if not changes:
        return document
    document = copy.deepcopy(document)
    for keys, value in changes:
        parent = document
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = value
    return document


def fitted(amount: str, digits: int) -> str:
    """``amount`` without its zero decimals beyond ``digits`` (``"500.00"``, 0 digits:
    ``"500"``); unchanged when one of them is not zero."""
    whole, _dot, decimals = amount.partition(".")
    if len(decimals) <= digits or decimals[digits:].strip("0"):
        return amount
    return f"{whole}.{decimals[:digits]}" if digits else whole
