"""Payment plans made and changed in loket: create one for an account (from chosen bills and
service charges, or for an amount), reschedule what is left, cancel it.

A plan's installments are receivables of kind ``installment`` (paid like any other, or
through the ``payplan`` destination). The items a plan takes over become ``in_plan``: they
are no longer payable on their own (nor changed or cancelled by the host), and reopen when
the plan is cancelled, credited with what the plan's installments received. Every change is
audited and told to the host (``plan.created``, ``plan.rescheduled``, ``plan.cancelled``) in
its transaction.

A change is described by a JSON request (``{"action": "create" | "reschedule" | "cancel",
...}``) so that one above the tenant's approval threshold can wait for a second person and
be carried out later exactly as asked (:mod:`loket.core.payments.approvals`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice.queries import local_today
from loket.core.host import plan_credit
from loket.core.host.plan_schedule import MAX_INSTALLMENTS, Frequency, build
from loket.core.models import Consumer, PaymentPlan, Receivable
from loket.core.numbering import next_number
from loket.core.outbox import events as outbox_events
from loket.core.settings import DEFAULTS, Settings, load_settings
from loket.core.states import PlanStatus, ReceivableStatus
from loket.core.tenants import consumer_by_account
from loket.errors import Conflict, NotFound, ValidationFailed
from loket.money import Money

ACTIONS = ("create", "reschedule", "cancel")
PLANNABLE_KINDS = ("bill", "service")
CHANGEABLE = (PlanStatus.ACTIVE, PlanStatus.DEFAULTED)
NUMBERS_TRIED = 100  # plan numbers skipped at most when staff took them by hand


def plan_by_reference(session: Session, tenant_id: int, reference: str,
                      lock: bool = False) -> PaymentPlan:
    """The tenant's plan ``reference`` (locked for update with ``lock``), or NotFound."""
    query = select(PaymentPlan).where(PaymentPlan.tenant_id == tenant_id,
                                      PaymentPlan.reference == reference)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    plan = session.scalar(query)
    if plan is None:
        raise NotFound(f"no payment plan {reference!r}")
    return plan


def installments(session: Session, plan: PaymentPlan, lock: bool = False) -> list[Receivable]:
    """Every installment of a plan (cancelled ones too), in schedule order.

    :param lock: lock them for update and read them afresh first (a change or a payment of
        the plan, under the plan's lock). They are locked in id order, the order payments
        lock receivables in (:func:`loket.core.payments.posting.lock_receivables`), so a
        change and a payment wait for each other instead of deadlocking.
    """
    query = select(Receivable).where(Receivable.plan_id == plan.id)
    if lock:
        session.scalars(query.order_by(Receivable.id).with_for_update()
                        .execution_options(populate_existing=True)).all()
    return list(session.scalars(query.order_by(Receivable.sequence, Receivable.due_date,
                                               Receivable.id)))


def unpaid(rows: list[Receivable]) -> list[Receivable]:
    """The installments still owing something."""
    return [r for r in rows if r.status == ReceivableStatus.OPEN and r.amount > r.paid]


# --- reading and checking a request ------------------------------------------------------


def _date(value: Any, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{field} must be a date (YYYY-MM-DD)", field=field) from None


def _terms(request: dict, today: dt.date, errors: list[dict]) -> tuple[int, Frequency, dt.date]:
    """The schedule fields of a create or reschedule request (problems go to ``errors``)."""
    count = request.get("installments")
    if not isinstance(count, int) or not 1 <= count <= MAX_INSTALLMENTS:
        errors.append({"field": "installments",
                       "message": f"installments must be from 1 to {MAX_INSTALLMENTS}"})
        count = 1
    try:
        frequency = Frequency(request.get("frequency") or "monthly")
    except ValueError:
        errors.append({"field": "frequency", "message": "frequency must be one of "
                       + ", ".join(f.value for f in Frequency)})
        frequency = Frequency.MONTHLY
    first = today
    try:
        first = _date(request.get("first_due_on"), "first_due_on")
        if first < today:
            errors.append({"field": "first_due_on",
                           "message": "the first due date must not be in the past"})
    except ValidationFailed as bad:
        errors.extend(bad.errors)
    return count, frequency, first


def _chosen_items(session: Session, tenant_id: int, consumer: Consumer, request: dict,
                  errors: list[dict]) -> list[Receivable]:
    rows = []
    for position, item in enumerate(request.get("items") or ()):
        field = f"items[{position}]"
        row = session.scalar(select(Receivable).where(
            Receivable.tenant_id == tenant_id, Receivable.kind == item.get("kind"),
            Receivable.reference == item.get("reference")).with_for_update())
        if row is None or row.consumer_id != consumer.id or row.kind not in PLANNABLE_KINDS:
            errors.append({"field": field, "message": f"unknown {item.get('kind')} "
                           f"{item.get('reference')!r} of account {consumer.account_number}"})
        elif row.status != ReceivableStatus.OPEN or row.amount <= row.paid:
            errors.append({"field": field, "message": f"{row.kind} {row.reference} is "
                           f"{'paid' if row.amount <= row.paid else row.status}"})
        elif row in rows:
            errors.append({"field": field, "message": f"{row.reference} is chosen twice"})
        else:
            rows.append(row)
    return rows


def check_create(session: Session, tenant_id: int, request: dict, now: dt.datetime
                 ) -> tuple[Consumer, list[Receivable], int, int]:
    """Check a create request without writing anything.

    :returns: ``(consumer, items taken over, amount, down payment)`` in minor units.
    :raises ValidationFailed: every problem at once, each naming its field.
    :raises NotFound: no such account.
    """
    currency = load_settings(session, tenant_id).currency
    consumer = consumer_by_account(session, tenant_id, request.get("account_number") or "")
    errors: list[dict] = []
    count, _frequency, _first = _terms(request, local_today(session, tenant_id, now), errors)
    items = _chosen_items(session, tenant_id, consumer, request, errors)
    if bool(request.get("items")) == bool(request.get("amount")):
        errors.append({"field": "items", "message": "choose the items the plan pays, or give "
                       "its amount (not both)"})
    amount = sum(r.amount - r.paid for r in items)
    down = 0
    try:
        if request.get("amount"):
            amount = Money.parse(request["amount"], currency).amount
        if request.get("down_payment"):
            down = Money.parse(request["down_payment"], currency, field="down_payment").amount
    except ValidationFailed as bad:
        errors.extend(bad.errors)
    if not errors and not 0 <= down < amount:
        errors.append({"field": "down_payment",
                       "message": "the down payment must be less than the plan's amount"})
    elif not errors and amount - down < count:
        errors.append({"field": "installments",
                       "message": "the amount is too small for that many installments"})
    reference = request.get("reference")
    if reference and _taken(session, tenant_id, reference):
        errors.append({"field": "reference", "message": f"plan {reference} already exists"})
    if errors:
        raise ValidationFailed("the payment plan cannot be made as asked", errors=errors)
    return consumer, items, amount, down


def _taken(session: Session, tenant_id: int, reference: str) -> bool:
    return session.scalar(select(PaymentPlan.id).where(
        PaymentPlan.tenant_id == tenant_id, PaymentPlan.reference == reference)) is not None


def check_change(session: Session, tenant_id: int, request: dict, now: dt.datetime) -> int:
    """Check a reschedule or cancel request without writing anything. The plan and its
    installments stay locked until the transaction ends: a payment of the plan made
    meanwhile waits, and cannot slip between this check and the change.

    :returns: what the plan still owes (minor units): the amount the change concerns.
    :raises NotFound: no such plan. :raises Conflict: the plan is completed or cancelled,
        or was paid again and again while it was being locked (:func:`_lock_for_change`).
    :raises ValidationFailed: bad schedule fields, or nothing left to reschedule.
    """
    plan = _lock_for_change(session, tenant_id, request)
    if plan.status not in CHANGEABLE:
        raise Conflict(f"payment plan {plan.reference} is {plan.status}", field="plan")
    remaining = sum(r.amount - r.paid for r in unpaid(installments(session, plan, lock=True)))
    if request["action"] == "reschedule":
        errors: list[dict] = []
        count, _f, _d = _terms(request, local_today(session, tenant_id, now), errors)
        if not errors and remaining < count:
            errors.append({"field": "installments", "message": "too little is left for that "
                           "many installments"})
        if errors:
            raise ValidationFailed("the plan cannot be rescheduled as asked", errors=errors)
    return remaining


def _lock_for_change(session: Session, tenant_id: int, request: dict) -> PaymentPlan:
    """The plan a reschedule or cancel ``request`` names, locked; a cancellation locks the
    payments that paid it first, as a refund of one does (:func:`plan_credit.lock_payers`).
    """
    cancel = request.get("action") == "cancel"
    plan = plan_by_reference(session, tenant_id, request.get("plan") or "", lock=not cancel)
    return plan_credit.lock_payers(session, plan) if cancel else plan


def amount_concerned(session: Session, tenant_id: int, request: dict,
                     now: dt.datetime) -> int:
    """Check a change request (nothing written) and return the amount it concerns, in minor
    units: a new plan's amount, or what a plan still owes.

    :raises ValidationFailed: an unknown action, or what the action's check raises.
    """
    if request.get("action") not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if request["action"] == "create":
        return check_create(session, tenant_id, request, now)[2]
    return check_change(session, tenant_id, request, now)


# --- carrying a request out --------------------------------------------------------------


def carry_out(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
              request: dict) -> PaymentPlan:
    """Carry out a checked or approved change request as ``actor``; returns the plan."""
    action = request.get("action")
    if action == "create":
        return create_plan(ctx, session, actor, tenant_id, request)
    plan = _lock_for_change(session, tenant_id, request)
    amount_concerned(session, tenant_id, request, ctx.now())  # checked under the lock
    if action == "reschedule":
        return reschedule_plan(ctx, session, actor, plan, request)
    return cancel_plan(ctx, session, actor, plan, request.get("reason") or "")


def _schedule_view(rows: list[Receivable]) -> list[dict]:
    return [{"reference": r.reference, "amount": r.amount, "paid": r.paid,
             "due_date": r.due_date.isoformat() if r.due_date else None, "status": r.status}
            for r in rows]


def _add_installments(session: Session, plan: PaymentPlan, schedule, first_sequence: int,
                      today: dt.date, down_payment: bool) -> list[Receivable]:
    rows = []
    total = len(schedule) - (1 if down_payment else 0)
    for offset, part in enumerate(schedule):
        sequence = first_sequence + offset
        number = offset + (0 if down_payment else 1)
        what = "down payment" if down_payment and offset == 0 else \
            f"installment {number} of {total}"
        row = Receivable(tenant_id=plan.tenant_id, consumer_id=plan.consumer_id,
                         kind="installment", reference=f"{plan.reference}-{sequence}",
                         description=f"Payment plan {plan.reference}, {what}",
                         period=f"{number}/{total}" if number else "down payment",
                         amount=part.amount, paid=0, currency=plan.currency,
                         due_date=part.due_date, status=ReceivableStatus.OPEN,
                         plan_id=plan.id, sequence=sequence, issued_on=today)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def create_plan(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
                request: dict) -> PaymentPlan:
    """Make a plan as ``request`` asks (``account_number``; ``items`` [{kind, reference}] or
    ``amount``; ``installments``; ``frequency``; ``first_due_on``; optional
    ``down_payment`` — due today, in the tenant's time zone —, ``reference``, ``notes``).

    :raises ValidationFailed, NotFound: as :func:`check_create`.
    :raises Conflict: a plan made meanwhile took the reference (field ``reference``).
    """
    now = ctx.now()
    consumer, items, amount, down = check_create(session, tenant_id, request, now)
    settings = load_settings(session, tenant_id)
    today = local_today(session, tenant_id, now)
    count, frequency, first = _terms(request, today, [])
    reference = request.get("reference") or _next_reference(session, tenant_id, settings,
                                                             today)
    plan = PaymentPlan(tenant_id=tenant_id, consumer_id=consumer.id, reference=reference,
                       currency=settings.currency, status=PlanStatus.ACTIVE,
                       missed_installments=0, created_at=now, amount=amount,
                       down_payment=down or None, installment_count=count,
                       frequency=frequency.value, first_due_on=first,
                       source_items=[r.id for r in items], created_by=actor.name, reminders=[])
    session.add(plan)
    try:
        session.flush()
    except IntegrityError as exc:  # the same reference, given to a plan made meanwhile
        if "payment_plans" not in str(exc.orig) or "reference" not in str(exc.orig):
            raise
        raise Conflict(f"plan {reference} already exists", field="reference") from None
    schedule = build(amount, count, frequency, first, down, today)
    rows = _add_installments(session, plan, schedule, 1, today, bool(down))
    for item in items:
        item.status = ReceivableStatus.IN_PLAN
    view = {"account_number": consumer.account_number, "amount": amount, "down_payment": down,
            "frequency": frequency.value, "items": [f"{r.kind}:{r.reference}" for r in items],
            "schedule": _schedule_view(rows), "notes": request.get("notes") or ""}
    audit.record(session, actor, "plan.created", "payment_plan", plan.reference, after=view,
                 tenant_id=tenant_id)
    _tell_host(session, plan, consumer, "plan.created", now, {"schedule": _schedule_view(rows)})
    return plan


def _next_reference(session: Session, tenant_id: int, settings: Settings,
                    today: dt.date) -> str:
    """The next number of the tenant's ``payment_plan`` sequence that no plan has: numbers
    staff gave a plan by hand are passed over (at most :data:`NUMBERS_TRIED`)."""
    number_format = settings["number_formats"].get("payment_plan") or \
        DEFAULTS["number_formats"]["payment_plan"]
    for _ in range(NUMBERS_TRIED):
        reference = next_number(session, tenant_id, "payment_plan", number_format, today)
        if not _taken(session, tenant_id, reference):
            return reference
    raise Conflict(f"the next {NUMBERS_TRIED} plan numbers are taken; give the plan a "
                   "reference", field="reference")


def _close_unpaid(rows: list[Receivable]) -> None:
    """End the unpaid installments: a part-paid one keeps what it received (and counts as
    paid at that), an unpaid one is cancelled."""
    for row in unpaid(rows):
        if row.paid > 0:
            row.amount = row.paid
            row.status = ReceivableStatus.PAID
        else:
            row.status = ReceivableStatus.CANCELLED


def reschedule_plan(ctx: Any, session: Session, actor: audit.Actor, plan: PaymentPlan,
                    request: dict) -> PaymentPlan:
    """Spread what the plan still owes over new installments (``installments``,
    ``frequency``, ``first_due_on``); the unpaid ones end (:func:`_close_unpaid`). A
    defaulted plan becomes active again. Audited with the schedule before and after. Called
    with the plan locked; its installments are locked and read afresh here."""
    now = ctx.now()
    rows = installments(session, plan, lock=True)
    remaining = sum(r.amount - r.paid for r in unpaid(rows))
    before = {"status": plan.status, "schedule": _schedule_view(unpaid(rows))}
    count, frequency, first = _terms(request, local_today(session, plan.tenant_id, now), [])
    _close_unpaid(rows)
    next_sequence = (session.scalar(select(func.max(Receivable.sequence)).where(
        Receivable.plan_id == plan.id)) or 0) + 1
    new_rows = _add_installments(session, plan, build(remaining, count, frequency, first),
                                 next_sequence, local_today(session, plan.tenant_id, now),
                                 False)
    plan.status = PlanStatus.ACTIVE
    plan.missed_installments = 0
    plan.defaulted_at = None  # a plan that defaults again after this is a new default
    plan.frequency = frequency.value
    plan.installment_count = count
    audit.record(session, actor, "plan.rescheduled", "payment_plan", plan.reference,
                 before=before, after={"status": plan.status,
                                       "schedule": _schedule_view(new_rows),
                                       "reason": request.get("reason") or ""},
                 tenant_id=plan.tenant_id)
    consumer = session.get_one(Consumer, plan.consumer_id)
    _tell_host(session, plan, consumer, "plan.rescheduled", now,
               {"schedule": _schedule_view(new_rows)})
    return plan


def cancel_plan(ctx: Any, session: Session, actor: audit.Actor, plan: PaymentPlan,
                reason: str) -> PaymentPlan:
    """Cancel a plan: its unpaid installments end (:func:`_close_unpaid`) and the items it
    took over reopen, credited (oldest due first) with what its installments received; an
    item the host cancelled meanwhile stays cancelled, and what no item can take becomes
    credit notes (:func:`loket.core.host.plan_credit.credit_items`). Called with the plan
    and the payments that paid its installments locked, payments first
    (:func:`_lock_for_change`); its installments are locked and read afresh here."""
    now = ctx.now()
    rows = installments(session, plan, lock=True)
    before = {"status": plan.status, "schedule": _schedule_view(rows)}
    _close_unpaid(rows)
    reopened, notes = plan_credit.credit_items(ctx, session, actor, plan, rows)
    plan.status = PlanStatus.CANCELLED
    plan.closed_at = now
    after = {"status": plan.status, "reason": reason, "items": reopened}
    audit.record(session, actor, "plan.cancelled", "payment_plan", plan.reference,
                 before=before, after={**after, "credit_notes": notes} if notes else after,
                 tenant_id=plan.tenant_id)
    consumer = session.get_one(Consumer, plan.consumer_id)
    _tell_host(session, plan, consumer, "plan.cancelled", now,
               {"reason": reason, "items": reopened})
    return plan


def _tell_host(session: Session, plan: PaymentPlan, consumer: Consumer, event_type: str,
               now: dt.datetime, extra: dict) -> None:
    outbox_events.emit(session, plan.tenant_id, event_type,
                       {"plan": {"reference": plan.reference, "status": plan.status,
                                 "account_number": consumer.account_number,
                                 "currency": plan.currency}, **extra},
                       f"payment_plan:{plan.reference}", now=now)
