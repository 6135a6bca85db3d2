"""Host data: consumers (accounts), receivables (bills, services, installments) and payment
plans, upserted by the host through the API or ``loket import receivables FILE.csv``.

A new account, receivable or plan is inserted unless a concurrent upsert inserted it first
(``INSERT … ON CONFLICT DO NOTHING``, which waits for that one's commit); then that row is
read (an account or receivable locked) and updated: two upserts of the same new row both
succeed, the later one updating what the earlier one made."""

from __future__ import annotations

import operator
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.db import insert_if_absent
from loket.core.host.inputs import ReceivableInput, check_consumer, receivable_input
from loket.core.models import Consumer, PaymentPlan, Receivable, ReceivableAttribute
from loket.core.settings import load_settings
from loket.core.states import PlanStatus, ReceivableStatus
from loket.core.tenants import consumer_by_account
from loket.errors import NotFound, ValidationFailed
from loket.money import Money


def upsert_consumer(session: Session, actor: audit.Actor, tenant_id: int, data: dict) -> Consumer:
    """Create or update a consumer by account number.

    :param data: ``account_number``, ``name`` and optionally ``email`` (one address),
        ``phone``, ``service_address``, ``postcode``, ``person_type``, ``status`` (active,
        blocked, disabled: a blocked or disabled account takes only lump-sum settlements)
        and ``status_reason``.
    :raises ValidationFailed: as :func:`~loket.core.host.inputs.check_consumer`.
    """
    check_consumer(data)
    consumer = _consumer(session, tenant_id, data["account_number"])
    if consumer is None:
        fresh = Consumer(tenant_id=tenant_id, account_number=data["account_number"])
        apply_consumer(fresh, data)
        consumer = insert_if_absent(session, Consumer, _values(fresh, CONSUMER_COLUMNS),
                                    ("tenant_id", "account_number"))
        if consumer is not None:
            audit.record(session, actor, "consumer.upserted", "consumer",
                         consumer.account_number, before=None,
                         after={"name": consumer.name, "email": consumer.email},
                         tenant_id=tenant_id)
            return consumer
        # A concurrent upsert inserted it first: update what it made.
        consumer = _consumer(session, tenant_id, data["account_number"], lock=True)
        assert consumer is not None  # nothing deletes consumers
    before = {"name": consumer.name, "email": consumer.email}
    facts = consumer_facts(consumer)
    apply_consumer(consumer, data)
    if consumer_facts(consumer) == facts:
        return consumer  # the host sent what loket holds: nothing to write or audit
    session.flush()
    audit.record(session, actor, "consumer.upserted", "consumer", consumer.account_number,
                 before=before, after={"name": consumer.name, "email": consumer.email},
                 tenant_id=tenant_id)
    return consumer


def _consumer(session: Session, tenant_id: int, account_number: str,
              lock: bool = False) -> Consumer | None:
    query = select(Consumer).where(Consumer.tenant_id == tenant_id,
                                   Consumer.account_number == account_number)
    return session.scalar(query.with_for_update() if lock else query)


def _values(row, columns: tuple[str, ...]) -> dict:
    """The columns of a row not yet written that are set (the others take their defaults)."""
    return {c: value for c in columns if (value := getattr(row, c)) is not None}


CONSUMER_FACTS = ("name", "name_search", "email", "phone", "service_address", "postcode",
                  "person_type", "account_status", "account_status_reason")
RECEIVABLE_FACTS = ("amount", "description", "period", "due_date", "issued_on", "sequence",
                    "status")
CONSUMER_COLUMNS = ("tenant_id", "account_number", *CONSUMER_FACTS)
RECEIVABLE_COLUMNS = ("tenant_id", "consumer_id", "kind", "reference", "paid", "currency",
                      "plan_id", *RECEIVABLE_FACTS)


consumer_facts = operator.attrgetter(*CONSUMER_FACTS)
"""What an upsert may change on a consumer (a tuple): equal before and after, it changed
nothing (and writes no row and no audit entry)."""
receivable_facts = operator.attrgetter(*RECEIVABLE_FACTS)
"""What an upsert may change on a receivable (a tuple, see :func:`receivable_unchanged`)."""


def receivable_unchanged(given: ReceivableInput, facts: tuple, row, same_plan: bool) -> bool:
    """Whether applying ``given`` left the receivable ``row`` (``facts`` before, see
    :data:`RECEIVABLE_FACTS`) as it was; an upsert naming attributes, or a plan the row does
    not belong to yet (``same_plan`` false), always counts as a change."""
    return ((given.plan is None or same_plan) and given.attributes is None
            and receivable_facts(row) == facts)


def apply_consumer(consumer, data: dict) -> None:
    """Set a consumer's fields from upsert ``data`` checked by
    :func:`~loket.core.host.inputs.check_consumer` (an ORM row, or any object with its
    attributes as the bulk import keeps them)."""
    consumer.name = data["name"].strip()
    consumer.name_search = consumer.name.lower()
    for field in ("email", "phone", "service_address", "postcode"):
        if field in data:
            setattr(consumer, field, data[field])
    consumer.person_type = data.get("person_type") or consumer.person_type or "individual"
    if "status" in data:
        consumer.account_status = data["status"]
        consumer.account_status_reason = data.get("status_reason") or None


def made_in_loket(plan) -> bool:
    """Whether loket schedules ``plan`` (a plan row, or a bulk import's copy of one): staff
    made it (``created_by``) or rescheduled it (``installment_count``), so loket made its
    installments; the host's own plans (uploaded as installments) have neither."""
    return (getattr(plan, "created_by", None) is not None
            or getattr(plan, "installment_count", None) is not None)


def check_upsert(row, given: ReceivableInput, consumer_id: int, current=None,
                 named=None) -> dict | None:
    """May ``given`` make (``row`` None) or update the receivable ``row``? Called by the
    API's upsert, its bulk form and the CSV import before anything is changed.

    Money on a receivable is never left on something the host took back: one that has
    received money cannot be cancelled (refund the money first), and one a payment plan
    took over (``in_plan``) keeps its amount and status while the plan runs (cancel the
    plan first). A plan is made of installments: ``plan`` is taken only on one of kind
    ``installment``; a receivable never moves from one plan to another, nor joins a plan
    made in loket (:func:`made_in_loket`, whose installments loket made); and those
    installments keep their amount, status and sequence while their plan is active or
    defaulted (reschedule or cancel the plan instead). Sending a row again as loket holds
    it is accepted.

    :param current: the plan ``row`` belongs to (None: none).
    :param named: the plan ``given.plan`` names as loket holds it (None: none named, or one
        loket does not know yet, which the upsert makes).
    :returns: the audit "before" of an update (None for a new receivable).
    :raises ValidationFailed: ``row`` belongs to another account (``account_number``);
        or, naming each field (``amount``, ``status``, ``plan``, ``sequence``), an amount
        below what was paid and each change the rules above refuse.
    """
    errors = _plan_errors(row, given, current, named)
    if row is not None:
        if row.consumer_id != consumer_id:
            raise ValidationFailed(f"{given.kind} {given.reference!r} belongs to another "
                                   "account", field="account_number")
        errors = _money_errors(row, given) + _schedule_errors(row, given, current) + errors
    first: dict[str, str] = {}  # the first reason a field is refused for
    for field, message in errors:
        first.setdefault(field, message)
    if first:
        raise ValidationFailed("; ".join(first.values()),
                               errors=[{"field": f, "message": m} for f, m in first.items()])
    return None if row is None else {"amount": row.amount, "status": row.status}


def _money_errors(row, given: ReceivableInput) -> list[tuple[str, str]]:
    """What ``given`` may not change on ``row`` because of the money it holds or the plan
    that took it over."""
    what = f"{given.kind} {given.reference!r}"
    in_plan = row.status == ReceivableStatus.IN_PLAN
    errors = []
    if given.amount < row.paid:
        errors.append(("amount", "amount cannot be below what has already been paid"))
    elif in_plan and given.amount != row.amount:
        errors.append(("amount", f"{what} is in a payment plan: its amount cannot change "
                                 "while the plan runs; cancel the plan first (the item "
                                 "reopens with what the plan received), then send it"))
    if in_plan and given.status == ReceivableStatus.CANCELLED:
        errors.append(("status", f"{what} is in a payment plan and cannot be cancelled; "
                                 "cancel the plan first (the item reopens with what the plan "
                                 "received)"))
    elif (given.status == ReceivableStatus.CANCELLED and row.paid > 0
          and row.status != ReceivableStatus.CANCELLED):
        paid = Money(row.paid, row.currency).decimal_string()
        errors.append(("status", f"{what} has received {paid} and cannot be cancelled: "
                                 f"refund that money first, or send amount {paid} to close "
                                 "it at what was paid"))
    return errors


def _schedule_errors(row, given: ReceivableInput, current) -> list[tuple[str, str]]:
    """What ``given`` may not change on ``row``, an installment loket made for the plan
    ``current`` while that plan runs."""
    if current is None or not made_in_loket(current) or current.status not in (
            PlanStatus.ACTIVE, PlanStatus.DEFAULTED):
        return []
    what = f"installment {given.reference!r}"
    instead = (f"payment plan {current.reference} is scheduled by loket: reschedule or "
               f"cancel the plan through the plan API (POST /v1/payment-plans/"
               f"{current.reference}/reschedule or /cancel) instead")
    errors = []
    if given.amount != row.amount:
        errors.append(("amount", f"{what} cannot change its amount; {instead}"))
    cancelling = given.status == ReceivableStatus.CANCELLED
    if cancelling != (row.status == ReceivableStatus.CANCELLED):
        change = "cancelled" if cancelling else "reopened"
        errors.append(("status", f"{what} cannot be {change}; {instead}"))
    if given.plan and given.sequence and given.sequence != row.sequence:
        errors.append(("sequence", f"{what} cannot change its sequence; {instead}"))
    return errors


def _plan_errors(row, given: ReceivableInput, current, named) -> list[tuple[str, str]]:
    """Why ``given`` may not put the receivable ``row`` (None: a new one) into the plan it
    names, if it may not."""
    if not given.plan or (row is not None and named is not None and named is current):
        return []  # no plan named, or the one the row belongs to: nothing moves
    what = f"{given.kind} {given.reference!r}"
    if given.kind != "installment":
        return [("plan", f"plan is taken only by an installment (kind installment): {what} "
                         "cannot join a payment plan; staff make a plan from bills and "
                         "service charges in loket")]
    if current is not None:
        return [("plan", f"{what} belongs to payment plan {current.reference} and cannot "
                         "move to another plan")]
    if named is not None and made_in_loket(named):
        return [("plan", f"payment plan {named.reference} is scheduled by loket, which makes "
                         "its installments: reschedule it through the plan API instead")]
    return []


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
        ``status`` (open|cancelled), ``plan`` (the reference of a plan of the same account
        the host schedules) and ``sequence`` for installments; ``attributes`` (typed,
        indexed values processors look up) for the kinds installed processors declare in
        ``attribute_schemas``.
    :param attribute_schemas: receivable kind -> JSON Schema of its attributes, from the
        installed destination processors (``Plugins.attribute_schemas``).
    :raises ValidationFailed: a field is missing, wrong or too long; the plan is another
        account's; or what :func:`check_upsert` refuses.
    """
    currency = load_settings(session, tenant_id).currency
    given = receivable_input(data, dict(attribute_schemas or {}), currency)
    consumer = _account(session, tenant_id, given.account_number)
    named = _named_plan(session, tenant_id, consumer, given.plan) if given.plan else None
    row = _receivable(session, tenant_id, given)
    if row is None:
        check_upsert(None, given, consumer.id, None, named)
        if given.plan and named is None:
            named = _new_plan(session, tenant_id, consumer, currency, given.plan)
        fresh = Receivable(tenant_id=tenant_id, kind=given.kind, reference=given.reference,
                           paid=0, currency=currency, consumer_id=consumer.id,
                           plan_id=named.id if named else None)
        apply_receivable(fresh, given)
        row = insert_if_absent(session, Receivable, _values(fresh, RECEIVABLE_COLUMNS),
                               ("tenant_id", "kind", "reference"))
        if row is not None:
            return _recorded(session, actor, given, row, None)
        # A concurrent upsert inserted it first: update what it made.
        row = _receivable(session, tenant_id, given)
        assert row is not None  # nothing deletes receivables
    current = session.get(PaymentPlan, row.plan_id) if row.plan_id is not None else None
    before = check_upsert(row, given, consumer.id, current, named)
    facts = receivable_facts(row)
    apply_receivable(row, given)
    if receivable_unchanged(given, facts, row, named is not None and named is current):
        return row  # the host sent what loket holds: nothing to write or audit
    if given.plan:
        row.plan_id = (named or _new_plan(session, tenant_id, consumer, currency,
                                          given.plan)).id
    return _recorded(session, actor, given, row, before)


def _receivable(session: Session, tenant_id: int, given: ReceivableInput) -> Receivable | None:
    return session.scalar(select(Receivable).where(
        Receivable.tenant_id == tenant_id, Receivable.kind == given.kind,
        Receivable.reference == given.reference).with_for_update())


def _recorded(session: Session, actor: audit.Actor, given: ReceivableInput, row: Receivable,
              before: dict | None) -> Receivable:
    """Write an upserted receivable's attributes and its audit entry; returns it."""
    session.flush()
    if given.attributes is not None:
        _store_attributes(session, row.tenant_id, row, given.attributes)
    audit.record(session, actor, "receivable.upserted", "receivable",
                 f"{given.kind}:{row.reference}", before=before,
                 after={"amount": row.amount, "status": row.status}, tenant_id=row.tenant_id)
    return row


def _account(session: Session, tenant_id: int, account_number: str) -> Consumer:
    try:
        return consumer_by_account(session, tenant_id, account_number)
    except NotFound:
        raise ValidationFailed(f"unknown account {account_number!r}",
                               field="account_number") from None


def _named_plan(session: Session, tenant_id: int, consumer: Consumer,
                reference: str) -> PaymentPlan | None:
    """The account's plan ``reference``, or None when loket does not know it.

    :raises ValidationFailed: naming ``plan``: it is another account's.
    """
    plan = session.scalar(select(PaymentPlan).where(PaymentPlan.tenant_id == tenant_id,
                                                    PaymentPlan.reference == reference))
    if plan is not None and plan.consumer_id != consumer.id:
        raise ValidationFailed(f"plan {reference!r} belongs to another account", field="plan")
    return plan


def _new_plan(session: Session, tenant_id: int, consumer: Consumer, currency: str,
              reference: str) -> PaymentPlan:
    """Make the account's plan ``reference``, one the host names that loket does not know
    (an uploaded plan, whose installments the host sends); or the one a concurrent upsert
    made first.

    :raises ValidationFailed: naming ``plan``: that concurrent upsert made it for another
        account.
    """
    plan = insert_if_absent(session, PaymentPlan, {
        "tenant_id": tenant_id, "consumer_id": consumer.id, "reference": reference,
        "currency": currency, "status": PlanStatus.ACTIVE}, ("tenant_id", "reference"))
    # None: a concurrent upsert made it first. It is read, not locked: a plan change
    # locks the plan before its installments, and this upsert may hold one of them.
    plan = plan or _named_plan(session, tenant_id, consumer, reference)
    assert plan is not None  # nothing deletes plans
    return plan


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
