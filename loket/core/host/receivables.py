"""Host data: consumers (accounts), receivables (bills, services, installments) and payment
plans, upserted by the host through the API or ``loket import receivables FILE.csv``."""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Mapping

import attrs
import jsonschema
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Consumer, PaymentPlan, Receivable, ReceivableAttribute
from loket.core.settings import load_settings
from loket.core.states import ITEM_KINDS, PlanStatus, ReceivableStatus
from loket.core.tenants import consumer_by_account
from loket.errors import NotFound, ValidationFailed
from loket.money import parse_minor

ACCOUNT_STATUSES = ("active", "blocked", "disabled")


def upsert_consumer(session: Session, actor: audit.Actor, tenant_id: int, data: dict) -> Consumer:
    """Create or update a consumer by account number.

    :param data: ``account_number``, ``name`` and optionally ``email``, ``phone``,
        ``service_address``, ``person_type``, ``status`` (active, blocked, disabled: a
        blocked or disabled account takes only lump-sum settlements) and ``status_reason``.
    """
    for field in ("account_number", "name"):
        if not str(data.get(field) or "").strip():
            raise ValidationFailed(f"{field} is required", field=field)
    consumer = session.scalar(select(Consumer).where(
        Consumer.tenant_id == tenant_id, Consumer.account_number == data["account_number"]))
    before = None
    if consumer is None:
        consumer = Consumer(tenant_id=tenant_id, account_number=data["account_number"])
        session.add(consumer)
    else:
        before = {"name": consumer.name, "email": consumer.email}
        facts = consumer_facts(consumer)
    apply_consumer(consumer, data)
    if before is not None and consumer_facts(consumer) == facts:
        return consumer  # the host sent what loket holds: nothing to write or audit
    session.flush()
    audit.record(session, actor, "consumer.upserted", "consumer", consumer.account_number,
                 before=before, after={"name": consumer.name, "email": consumer.email},
                 tenant_id=tenant_id)
    return consumer


CONSUMER_FACTS = ("name", "name_search", "email", "phone", "service_address", "postcode",
                  "person_type", "account_status", "account_status_reason")
RECEIVABLE_FACTS = ("amount", "description", "period", "due_date", "issued_on", "sequence",
                    "status")


consumer_facts = operator.attrgetter(*CONSUMER_FACTS)
"""What an upsert may change on a consumer (a tuple): equal before and after, it changed
nothing (and writes no row and no audit entry)."""
receivable_facts = operator.attrgetter(*RECEIVABLE_FACTS)
"""What an upsert may change on a receivable (a tuple, see :func:`receivable_unchanged`)."""


def receivable_unchanged(given: ReceivableInput, facts: tuple, row) -> bool:
    """Whether applying ``given`` left the receivable ``row`` (``facts`` before, see
    :data:`RECEIVABLE_FACTS`) as it was; an upsert naming a plan or attributes always counts
    as a change."""
    return (given.plan is None and given.attributes is None
            and receivable_facts(row) == facts)


def apply_consumer(consumer, data: dict) -> None:
    """Set a consumer's fields from upsert ``data`` (an ORM row, or any object with its
    attributes as the bulk import keeps them).

    :raises ValidationFailed: an unknown account status.
    """
    consumer.name = data["name"].strip()
    consumer.name_search = consumer.name.lower()
    for field in ("email", "phone", "service_address", "postcode"):
        if field in data:
            setattr(consumer, field, data[field])
    consumer.person_type = data.get("person_type") or consumer.person_type or "individual"
    if "status" in data:
        if data["status"] not in ACCOUNT_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(ACCOUNT_STATUSES)}",
                                   field="status")
        consumer.account_status = data["status"]
        consumer.account_status_reason = data.get("status_reason") or None


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
    """Validate receivable upsert ``data`` (see :func:`upsert_receivable`) without reading
    the database.

    :raises ValidationFailed: naming the field.
    """
    kind: str = data.get("kind") or ""
    if kind not in ITEM_KINDS and kind not in schemas:
        raise ValidationFailed(f"kind must be one of {', '.join((*ITEM_KINDS, *sorted(schemas)))}",
                               field="kind")
    attributes = _attributes(schemas.get(kind), data.get("attributes"))
    if not data.get("reference"):
        raise ValidationFailed("reference is required", field="reference")
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
    """An installment's position: a whole number from 0 (none given) to 2,147,483,647."""
    text = str(value if value is not None else "").strip() or "0"
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**31:
        raise ValidationFailed("sequence must be a whole number from 0 to 2147483647",
                               field="sequence")
    return int(text)


def check_update(row, given: ReceivableInput, consumer_id: int) -> dict:
    """May ``given`` update the existing receivable ``row``? Returns its audit "before".

    :raises ValidationFailed: it belongs to another account, or the amount would fall
        below what was paid.
    """
    if row.consumer_id != consumer_id:
        raise ValidationFailed(f"{given.kind} {given.reference!r} belongs to another account",
                               field="account_number")
    if given.amount < row.paid:
        raise ValidationFailed("amount cannot be below what has already been paid",
                               field="amount")
    return {"amount": row.amount, "status": row.status}


def apply_receivable(row, given: ReceivableInput) -> None:
    """Set a receivable's fields from ``given`` (all but its plan); what was not given
    keeps its value. An open receivable paid in full is ``paid``."""
    row.amount = given.amount
    row.description = given.description or row.description or ""
    row.period = given.period or row.period
    row.due_date = given.due_date or row.due_date
    row.issued_on = given.issued_on or row.issued_on
    if given.plan:
        row.sequence = given.sequence or row.sequence
    if row.status == ReceivableStatus.IN_PLAN and given.status == ReceivableStatus.OPEN:
        return  # the host sending the bill again does not take it out of its payment plan
    row.status = (ReceivableStatus.PAID if given.status == ReceivableStatus.OPEN
                  and row.paid >= row.amount else given.status)


def upsert_receivable(session: Session, actor: audit.Actor, tenant_id: int,
                      data: dict, attribute_schemas: Mapping[str, dict] | None = None
                      ) -> Receivable:
    """Create or update a receivable by (kind, reference).

    :param data: ``account_number``, ``kind`` (bill|service|installment), ``reference``,
        ``amount`` (decimal string), and optionally ``description``, ``period``,
        ``due_date``, ``issued_on`` (the bill's issue date; default the creation date),
        ``status`` (open|cancelled), ``plan`` (plan reference) and ``sequence``
        for installments; ``attributes`` (typed, indexed values processors look up) for the
        kinds installed processors declare in ``attribute_schemas``.
    :param attribute_schemas: receivable kind -> JSON Schema of its attributes, from the
        installed destination processors (``Plugins.attribute_schemas``).
    :raises ValidationFailed: a field is missing or wrong, or the new amount is below what
        has already been paid.
    """
    currency = load_settings(session, tenant_id).currency
    given = receivable_input(data, dict(attribute_schemas or {}), currency)
    consumer = _account(session, tenant_id, given.account_number)
    row = session.scalar(select(Receivable).where(
        Receivable.tenant_id == tenant_id, Receivable.kind == given.kind,
        Receivable.reference == given.reference).with_for_update())
    before = None
    if row is None:
        row = Receivable(tenant_id=tenant_id, kind=given.kind, reference=given.reference,
                         paid=0, currency=currency, consumer_id=consumer.id)
        session.add(row)
    else:
        before = check_update(row, given, consumer.id)
        facts = receivable_facts(row)
    apply_receivable(row, given)
    if before is not None and receivable_unchanged(given, facts, row):
        return row  # the host sent what loket holds: nothing to write or audit
    if given.plan:
        row.plan_id = _plan(session, tenant_id, consumer, currency, given.plan).id
    session.flush()
    if given.attributes is not None:
        _store_attributes(session, tenant_id, row, given.attributes)
    audit.record(session, actor, "receivable.upserted", "receivable",
                 f"{given.kind}:{row.reference}", before=before,
                 after={"amount": row.amount, "status": row.status}, tenant_id=tenant_id)
    return row


def _account(session: Session, tenant_id: int, account_number: str) -> Consumer:
    try:
        return consumer_by_account(session, tenant_id, account_number)
    except NotFound:
        raise ValidationFailed(f"unknown account {account_number!r}",
                               field="account_number") from None


def _plan(session: Session, tenant_id: int, consumer: Consumer, currency: str,
          reference: str) -> PaymentPlan:
    plan = session.scalar(select(PaymentPlan).where(
        PaymentPlan.tenant_id == tenant_id, PaymentPlan.reference == reference))
    if plan is None:
        plan = PaymentPlan(tenant_id=tenant_id, consumer_id=consumer.id, reference=reference,
                           currency=currency, status=PlanStatus.ACTIVE)
        session.add(plan)
        session.flush()
    return plan


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
    return {name: str(value) for name, value in given.items()}


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    """The validator of an attribute schema, built once per process (a bulk import checks
    a million rows against the same few schemas)."""
    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema.Draft202012Validator(schema)
    return _VALIDATORS[key]


def _store_attributes(session: Session, tenant_id: int, row: Receivable,
                      attributes: dict[str, str]) -> None:
    existing = {a.name: a for a in session.scalars(select(ReceivableAttribute).where(
        ReceivableAttribute.receivable_id == row.id))}
    for name, value in attributes.items():
        if name in existing:
            existing.pop(name).value = value
        else:
            session.add(ReceivableAttribute(tenant_id=tenant_id, receivable_id=row.id,
                                            name=name, value=value))
    for stale in existing.values():
        session.delete(stale)
    session.flush()


def attributes_of(session: Session, receivable_id: int) -> dict[str, str]:
    """A receivable's attributes by name."""
    return dict(session.execute(select(ReceivableAttribute.name, ReceivableAttribute.value)
                                .where(ReceivableAttribute.receivable_id == receivable_id)).all())


CSV_COLUMNS = ("account_number", "name", "kind", "reference", "amount", "description",
               "period", "due_date", "plan", "sequence", "email", "phone", "service_address",
               "issued_on")
"""The columns of a receivables CSV (:func:`loket.core.host.imports.import_csv`);
``attributes.<name>`` columns carry attributes."""
