"""What the host sends, checked without the database: the consumer and receivable fields of
``POST /v1/host/consumers``, ``/v1/host/receivables``, their bulk forms and the CSV import
(:mod:`loket.core.host.imports`), with the same limits as the API's schemas
(``loket/server/openapi.yaml``) and the columns that store them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from email.headerregistry import Address

import attrs
import jsonschema

from loket.core.states import ITEM_KINDS, ReceivableStatus
from loket.core.text import storable
from loket.errors import ValidationFailed
from loket.money import parse_minor

ACCOUNT_STATUSES = ("active", "blocked", "disabled")
CONSUMER_LIMITS = {"account_number": 64, "name": 200, "email": 200, "phone": 50,
                   "service_address": 300, "postcode": 20, "status_reason": 300}
"""The longest text of each consumer field (characters)."""
RECEIVABLE_LIMITS = {"account_number": 64, "reference": 64, "description": 300, "period": 40,
                     "plan": 64}
"""The longest text of each receivable field (characters)."""
ATTRIBUTE_NAME_MAX, ATTRIBUTE_VALUE_MAX = 40, 100
SEQUENCE_MAX = 1000


def check_text(data: Mapping, limits: Mapping[str, int]) -> None:
    """Refuse a text field of ``data`` longer than its limit in ``limits``, or holding what
    the database cannot store (:func:`loket.core.text.storable`); absent and ``None``
    fields pass.

    :raises ValidationFailed: naming the first such field.
    """
    for field, limit in limits.items():
        value = data.get(field)
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text) > limit:
            raise ValidationFailed(f"{field} must be at most {limit} characters long",
                                   field=field)
        if not storable(text):
            raise ValidationFailed(f"{field} contains a NUL character or a lone UTF-16 "
                                   "surrogate", field=field)


def check_consumer(data: Mapping) -> None:
    """Check consumer upsert ``data`` (see
    :func:`~loket.core.host.receivables.upsert_consumer`) before anything is looked up.

    :raises ValidationFailed: a required field is missing, a text is too long or cannot be
        stored, the e-mail is not one address, or the account status is unknown.
    """
    for field in ("account_number", "name"):
        if not str(data.get(field) or "").strip():
            raise ValidationFailed(f"{field} is required", field=field)
    check_text(data, CONSUMER_LIMITS)
    if data.get("email"):
        check_mailbox(str(data["email"]))
    if "status" in data and data["status"] not in ACCOUNT_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(ACCOUNT_STATUSES)}",
                               field="status")


def check_mailbox(value: str) -> None:
    """Refuse an e-mail that is not exactly one address (``name@example.com``): a list
    (``a@x, b@y``) or a header break would send every message of the consumer elsewhere too.

    :raises ValidationFailed: naming ``email``.
    """
    if not any(c in value for c in ",;\r\n") and _one_address(value.strip()):
        return
    raise ValidationFailed("email must be one e-mail address, such as name@example.com",
                           field="email")


def _one_address(value: str) -> bool:
    try:
        address = Address(addr_spec=value)
    except Exception:  # noqa: BLE001 - the parser raises several kinds for a bad address
        return False
    return bool(address.username and address.domain)


def _date(value, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2025-03-31", field=field) from None


@attrs.frozen
class ReceivableInput:
    """A receivable upsert, validated: amounts in minor units, dates parsed."""

    account_number: str
    kind: str
    reference: str
    amount: int
    status: str
    description: str | None
    period: str | None
    due_date: dt.date | None
    issued_on: dt.date | None
    plan: str | None
    sequence: int
    attributes: dict[str, str] | None


def receivable_input(data: dict, schemas: Mapping[str, dict], currency: str
                     ) -> ReceivableInput:
    """Validate receivable upsert ``data`` (see
    :func:`~loket.core.host.receivables.upsert_receivable`) without reading the database.

    :raises ValidationFailed: naming the field.
    """
    kind: str = data.get("kind") or ""
    if kind not in ITEM_KINDS and kind not in schemas:
        raise ValidationFailed(f"kind must be one of {', '.join((*ITEM_KINDS, *sorted(schemas)))}",
                               field="kind")
    attributes = _attributes(schemas.get(kind), data.get("attributes"))
    if not data.get("reference"):
        raise ValidationFailed("reference is required", field="reference")
    check_text(data, RECEIVABLE_LIMITS)
    amount = parse_minor(str(data.get("amount", "")), currency, field="amount")
    if amount <= 0:
        raise ValidationFailed("amount must be more than zero", field="amount")
    status = data.get("status") or ReceivableStatus.OPEN
    if status not in (ReceivableStatus.OPEN, ReceivableStatus.CANCELLED):
        raise ValidationFailed("status must be open or cancelled", field="status")
    return ReceivableInput(
        account_number=data.get("account_number") or "", kind=kind,
        reference=data["reference"], amount=amount, status=status,
        description=data.get("description"), period=data.get("period"),
        due_date=_date(data.get("due_date"), "due_date"),
        issued_on=_date(data.get("issued_on"), "issued_on"), plan=data.get("plan") or None,
        sequence=_sequence(data.get("sequence")), attributes=attributes)


def _sequence(value) -> int:
    """An installment's position: a whole number from 1 to :data:`SEQUENCE_MAX`, 0 when none
    is given."""
    text = str(value if value is not None else "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 4
            and 1 <= int(text) <= SEQUENCE_MAX):
        raise ValidationFailed(f"sequence must be a whole number from 1 to {SEQUENCE_MAX}",
                               field="sequence")
    return int(text)


def _attributes(schema: dict | None, given) -> dict[str, str] | None:
    """Validate a receivable's attributes against its kind's schema; values stored as text.

    :raises ValidationFailed: naming ``attributes.<name>``.
    """
    if schema is None:
        if given:
            raise ValidationFailed("this kind of receivable takes no attributes",
                                   field="attributes")
        return None
    given = given or {}
    if not isinstance(given, dict):
        raise ValidationFailed("attributes must be an object", field="attributes")
    errors = sorted(_validator(schema).iter_errors(given),
                    key=lambda e: list(e.absolute_path))
    if errors:
        raise ValidationFailed("attributes are invalid", errors=[
            {"field": "attributes" + (f".{'.'.join(str(p) for p in e.absolute_path)}"
                                      if e.absolute_path else ""), "message": e.message}
            for e in errors])
    values = {str(name): str(value) for name, value in given.items()}
    for name, value in values.items():
        if len(name) > ATTRIBUTE_NAME_MAX or not storable(name):
            raise ValidationFailed(f"attribute names are at most {ATTRIBUTE_NAME_MAX} "
                                   "storable characters", field="attributes")
        check_text({f"attributes.{name}": value}, {f"attributes.{name}": ATTRIBUTE_VALUE_MAX})
    return values


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    """The validator of an attribute schema, built once per process (a bulk import checks
    a million rows against the same few schemas)."""
    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema.Draft202012Validator(schema)
    return _VALIDATORS[key]
