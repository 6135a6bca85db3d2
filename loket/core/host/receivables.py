"""Host data: consumers (accounts), receivables (bills, services, installments) and payment
plans, upserted by the host through the API or ``loket import receivables FILE.csv``."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping

import jsonschema
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Consumer, PaymentPlan, Receivable, ReceivableAttribute
from loket.core.settings import load_settings
from loket.core.states import ITEM_KINDS, PlanStatus, ReceivableStatus
from loket.core.tenants import consumer_by_account
from loket.errors import NotFound, ValidationFailed
from loket.money import Money

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
    session.flush()
    audit.record(session, actor, "consumer.upserted", "consumer", consumer.account_number,
                 before=before, after={"name": consumer.name, "email": consumer.email},
                 tenant_id=tenant_id)
    return consumer


def _date(value, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2025-03-31", field=field) from None


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
    kind = data.get("kind")
    schemas = dict(attribute_schemas or {})
    if kind not in ITEM_KINDS and kind not in schemas:
        raise ValidationFailed(f"kind must be one of {', '.join((*ITEM_KINDS, *sorted(schemas)))}",
                               field="kind")
    attributes = _attributes(schemas.get(kind), data.get("attributes"))
    if not data.get("reference"):
        raise ValidationFailed("reference is required", field="reference")
    currency = load_settings(session, tenant_id).currency
    amount = Money.parse(str(data.get("amount", "")), currency, field="amount")
    if amount.amount <= 0:
        raise ValidationFailed("amount must be more than zero", field="amount")
    try:
        consumer = consumer_by_account(session, tenant_id, data.get("account_number") or "")
    except NotFound:
        raise ValidationFailed(f"unknown account {data.get('account_number')!r}",
                               field="account_number") from None
    status = data.get("status") or ReceivableStatus.OPEN
    if status not in (ReceivableStatus.OPEN, ReceivableStatus.CANCELLED):
        raise ValidationFailed("status must be open or cancelled", field="status")
    row = session.scalar(select(Receivable).where(
        Receivable.tenant_id == tenant_id, Receivable.kind == kind,
        Receivable.reference == data["reference"]).with_for_update())
    before = None
    if row is None:
        row = Receivable(tenant_id=tenant_id, kind=kind, reference=data["reference"], paid=0,
                         currency=currency, consumer_id=consumer.id)
        session.add(row)
    else:
        if row.consumer_id != consumer.id:
            raise ValidationFailed(f"{kind} {data['reference']!r} belongs to another account",
                                   field="account_number")
        if amount.amount < row.paid:
            raise ValidationFailed("amount cannot be below what has already been paid",
                                   field="amount")
        before = {"amount": row.amount, "status": row.status}
    row.amount = amount.amount
    row.description = data.get("description") or row.description or ""
    row.period = data.get("period") or row.period
    row.due_date = _date(data.get("due_date"), "due_date") or row.due_date
    row.issued_on = _date(data.get("issued_on"), "issued_on") or row.issued_on
    if data.get("plan"):
        plan = session.scalar(select(PaymentPlan).where(
            PaymentPlan.tenant_id == tenant_id, PaymentPlan.reference == data["plan"]))
        if plan is None:
            plan = PaymentPlan(tenant_id=tenant_id, consumer_id=consumer.id,
                               reference=data["plan"], currency=currency, status=PlanStatus.ACTIVE)
            session.add(plan)
            session.flush()
        row.plan_id = plan.id
        row.sequence = int(data.get("sequence") or 0) or row.sequence
    if row.status == ReceivableStatus.IN_PLAN and status == ReceivableStatus.OPEN:
        pass  # the host sending the bill again does not take it out of its payment plan
    else:
        row.status = (ReceivableStatus.PAID
                      if status == ReceivableStatus.OPEN and row.paid >= row.amount else status)
    session.flush()
    if attributes is not None:
        _store_attributes(session, tenant_id, row, attributes)
    audit.record(session, actor, "receivable.upserted", "receivable", f"{kind}:{row.reference}",
                 before=before, after={"amount": row.amount, "status": row.status},
                 tenant_id=tenant_id)
    return row


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
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(given),
                    key=lambda e: list(e.absolute_path))
    if errors:
        raise ValidationFailed("attributes are invalid", errors=[
            {"field": "attributes" + (f".{'.'.join(str(p) for p in e.absolute_path)}"
                                      if e.absolute_path else ""), "message": e.message}
            for e in errors])
    return {name: str(value) for name, value in given.items()}


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


def import_csv(session: Session, actor: audit.Actor, tenant_id: int, text: str) -> int:
    """Import receivables (and their consumers) from CSV with a header row of
    :data:`CSV_COLUMNS` (only ``account_number, kind, reference, amount`` are required;
    ``name`` is required for new accounts). All rows or none: the first bad row raises with
    its line number.

    :returns: the number of receivables imported.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = {"account_number", "kind", "reference", "amount"} - set(reader.fieldnames or ())
    if missing:
        raise ValidationFailed(f"CSV header lacks {', '.join(sorted(missing))}", field="header")
    count = 0
    for line, record in enumerate(reader, start=2):
        try:
            if record.get("name"):
                upsert_consumer(session, actor, tenant_id,
                                {k: record[k] for k in ("account_number", "name", "email",
                                                        "phone", "service_address")
                                 if record.get(k)})
            upsert_receivable(session, actor, tenant_id, record)
        except ValidationFailed as exc:
            raise ValidationFailed(f"line {line}: {exc.detail}",
                                   errors=[{"field": f"line {line}.{e['field']}",
                                            "message": e["message"]} for e in exc.errors]
                                   ) from None
        count += 1
    return count
