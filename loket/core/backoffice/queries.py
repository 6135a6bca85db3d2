"""Read-side helpers for the REST API: search, lists with filters and pages, account
balances, the amount analysis of a payment and the KPIs of a tenant.

Nothing here writes. Every function takes the caller's session and a tenant id, so one
tenant never sees another's rows. Searches are case-insensitive and partial.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy import and_, any_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from loket.core.backoffice.paging import (
    COUNT_CAP,
    Page,
    contains,
    numbers_contain,
    paginate,
    plan_for_values,
    searched,
)
from loket.core.db import money_sum
from loket.core.models import (
    Allocation,
    Consumer,
    CreditNote,
    CreditNoteApplication,
    Payment,
    Receivable,
    Refund,
)
from loket.core.payments import lifecycle
from loket.core.settings import load_settings
from loket.core.states import ITEM_KINDS, AllocationState, CreditNoteStatus, ReceivableStatus
from loket.core.tenants import consumer_by_account
from loket.errors import NotFound, ValidationFailed
from loket.money import Money
from loket.types import PaymentStatus


def day_bounds(session: Session, tenant_id: int, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC start and end of ``day`` in the tenant's time zone."""
    zone = ZoneInfo(load_settings(session, tenant_id)["timezone"])
    start = dt.datetime.combine(day, dt.time(), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(
        dt.UTC)


def local_today(session: Session, tenant_id: int, now: dt.datetime) -> dt.date:
    """Today's date in the tenant's time zone."""
    return now.astimezone(ZoneInfo(load_settings(session, tenant_id)["timezone"])).date()


def _date_range(session, tenant_id, column, date_from: dt.date | None,
                date_to: dt.date | None) -> list:
    conditions = []
    if date_from and date_to and date_from > date_to:
        raise ValidationFailed("date_from must not be after date_to", field="date_from")
    if date_from:
        conditions.append(column >= day_bounds(session, tenant_id, date_from)[0])
    if date_to:
        conditions.append(column < day_bounds(session, tenant_id, date_to)[1])
    return conditions


# --- consumers -----------------------------------------------------------------------------

def search_consumers(session: Session, tenant_id: int, q: str | None, page: int = 1,
                     limit: int = 20) -> Page:
    """Consumers whose name, account number, email or phone contains ``q``, by name."""
    query = select(Consumer).where(Consumer.tenant_id == tenant_id)
    if q:
        plan_for_values(session)
        query = query.where(or_(contains(Consumer.name, q),
                                contains(Consumer.account_number, q),
                                contains(Consumer.email, q), contains(Consumer.phone, q)))
    return paginate(session, query, (Consumer.name_search, Consumer.id), page, limit)


consumer = consumer_by_account  # the tenant's consumer with an account number, or NotFound


def balance(session: Session, consumer_row: Consumer) -> int:
    """What the account owes now (open receivables less paid), minor units."""
    return session.scalar(select(money_sum(Receivable.amount - Receivable.paid))
                          .where(Receivable.consumer_id == consumer_row.id,
                                 Receivable.status == ReceivableStatus.OPEN)) or 0


def credit_available(session: Session, consumer_row: Consumer, now: dt.datetime) -> int:
    """Unused credit on the account's active, unexpired credit notes, minor units."""
    return session.scalar(select(money_sum(
        CreditNote.amount - CreditNote.applied - CreditNote.reversed)).where(
        CreditNote.consumer_id == consumer_row.id, CreditNote.status == CreditNoteStatus.ACTIVE,
        CreditNote.expires_at > now)) or 0


ITEM_FILTERS = {"all": ITEM_KINDS, "bills": ("bill",),
                "services": ("service",), "installments": ("installment",)}


def items(session: Session, consumer_row: Consumer, q: str | None = None, kind: str = "all",
          open_only: bool = True) -> list[Receivable]:
    """The account's receivables (``kind``: all, bills, services, installments), searched
    by reference, description or period; oldest due first."""
    query = select(Receivable).where(Receivable.consumer_id == consumer_row.id,
                                     Receivable.kind.in_(ITEM_FILTERS[kind]))
    if open_only:
        query = query.where(Receivable.status == ReceivableStatus.OPEN,
                            Receivable.amount > Receivable.paid)
    if q:
        query = query.where(or_(contains(Receivable.reference, q),
                                contains(Receivable.description, q),
                                contains(Receivable.period, q)))
    return list(session.scalars(query.order_by(Receivable.due_date.is_(None),
                                               Receivable.due_date, Receivable.id)))


# --- payments ------------------------------------------------------------------------------

@attrs.frozen
class PaymentFilters:
    """The staff payments list's search box and filters (all optional)."""

    q: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    method: str | None = None
    status: str | None = None
    payment_type: str | None = None
    channel: str | None = None
    account_number: str | None = None
    include_tests: bool = False


def list_payments(session: Session, tenant_id: int, filters: PaymentFilters, page: int = 1,
                  limit: int = 20, newest_first: bool = True) -> Page:
    """Payments matching the filters; ``q`` matches the consumer's name or account number,
    the payment, transaction or receipt number (case-insensitive, partial)."""
    if filters.q:
        plan_for_values(session)
    query = filter_payments(session, tenant_id, select(Payment).outerjoin(
        Consumer, Consumer.id == Payment.consumer_id), filters)
    order = (Payment.created_at.desc(), Payment.id.desc()) if newest_first else (
        Payment.created_at, Payment.id)
    return paginate(session, query.options(selectinload(Payment.consumer)), order, page,
                     limit, count_cap=COUNT_CAP)


def filter_payments(session: Session, tenant_id: int, query, filters: PaymentFilters):
    """``query`` (over Payment outer-joined to Consumer) narrowed to the tenant and the
    filters of the payments list; the list and the export share it."""
    query = query.where(Payment.tenant_id == tenant_id)
    if not filters.include_tests:
        query = query.where(Payment.is_test.is_(False))
    if filters.q:
        q = filters.q.strip()
        # Matching consumers first, then payments of theirs or with a matching number: each
        # part served by an index (trigram on PostgreSQL), never an OR across the join.
        named = (Consumer.id.in_(searched("consumer_names_fts", q))
                 if session.get_bind().dialect.name == "sqlite"
                 else or_(contains(Consumer.name, q), contains(Consumer.account_number, q)))
        consumers = select(Consumer.id).where(Consumer.tenant_id == tenant_id, named)
        theirs = (Payment.consumer_id == any_(func.array(consumers.scalar_subquery()))
                  if session.get_bind().dialect.name == "postgresql"
                  else Payment.consumer_id.in_(consumers))
        query = query.where(or_(theirs, numbers_contain(session, q)))
    for column, value in ((Payment.method, filters.method), (Payment.status, filters.status),
                          (Payment.payment_type, filters.payment_type),
                          (Payment.channel, filters.channel),
                          (Consumer.account_number, filters.account_number)):
        if value:
            query = query.where(column == value)
    return query.where(*_date_range(session, tenant_id, Payment.created_at, filters.date_from,
                                    filters.date_to))


def payment(session: Session, tenant_id: int, number: str,
            consumer_id: int | None = None) -> Payment:
    """A payment by number, of this tenant (and of this consumer when given), or NotFound."""
    query = select(Payment).where(Payment.tenant_id == tenant_id, Payment.number == number)
    if consumer_id is not None:
        query = query.where(Payment.consumer_id == consumer_id)
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"no payment {number!r}")
    return row


def allocations(session: Session, payment_row: Payment) -> list[tuple[Allocation, Receivable]]:
    """The payment's allocations with their receivables, in order."""
    return list(session.execute(select(Allocation, Receivable).join(
        Receivable, Receivable.id == Allocation.receivable_id).where(
        Allocation.payment_id == payment_row.id).order_by(Allocation.id)).all())


def refunds(session: Session, payment_row: Payment) -> list[Refund]:
    """The payment's refunds, oldest first."""
    return list(session.scalars(select(Refund).where(Refund.payment_id == payment_row.id)
                                .order_by(Refund.id)))


def credit_notes_of(session: Session, payment_row: Payment) -> list[CreditNote]:
    """Credit notes issued from a payment."""
    return list(session.scalars(select(CreditNote).where(
        CreditNote.payment_id == payment_row.id).order_by(CreditNote.id)))


def amount_analysis(session: Session, payment_row: Payment) -> dict:
    """Exact, over paid or under paid: what was received against what the chosen items owed.

    ``applied`` is received less change (and a passed-on fee); ``allocated`` went to the
    items, ``credited`` became an automatic credit note (over paid), ``still_owed`` is what
    the items the payment went to still owe now (under paid).
    """
    currency = payment_row.currency
    fee = payment_row.fee if payment_row.fee_passed_on else 0
    applied = payment_row.amount_received - payment_row.change_given - fee
    pairs = allocations(session, payment_row)
    posted = [(a, r) for a, r in pairs if a.state == AllocationState.POSTED]
    shown = posted or [(a, r) for a, r in pairs if a.state == AllocationState.INTENDED]
    allocated = sum(a.amount for a, _ in shown)
    credited = sum(n.amount for n in credit_notes_of(session, payment_row) if n.automatic)
    owed = sum(r.amount - r.paid for r in {r.id: r for _, r in posted}.values()
               if r.status == ReceivableStatus.OPEN)
    if payment_row.status not in lifecycle.MONEY_TAKEN:
        verdict = "pending" if payment_row.status == PaymentStatus.INITIATED else "none"
    elif credited:
        verdict = "over_paid"
    elif owed:
        verdict = "under_paid"
    else:
        verdict = "exact"

    def m(value: int) -> dict:
        return Money(value, currency).to_json()

    return {"result": verdict, "amount_due": m(payment_row.amount),
            "amount_received": m(payment_row.amount_received),
            "change_given": m(payment_row.change_given), "fee": m(payment_row.fee),
            "applied": m(applied), "allocated": m(allocated), "credited": m(credited),
            "still_owed": m(owed), "refunded": m(payment_row.refunded)}


# --- credit notes --------------------------------------------------------------------------

@attrs.frozen
class CreditNoteFilters:
    """The credit notes list's search box and filters (all optional).

    ``period``: today, week, month (calendar, tenant time zone) or custom with
    ``date_from``/``date_to``; ``remaining``: full (unused), partial, fully_used.
    """

    q: str | None = None
    status: str | None = None
    period: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    reasons: tuple[str, ...] = ()
    account_number: str | None = None
    remaining: str | None = None
    receipt: str | None = None
    amount_min: int | None = None
    amount_max: int | None = None


def list_credit_notes(session: Session, tenant_id: int, filters: CreditNoteFilters,
                      now: dt.datetime, page: int = 1, limit: int = 20,
                      newest_first: bool = True) -> Page:
    """Credit notes matching the filters; ``q`` matches the note number, the consumer's
    name or account and the linked payment's receipt or number."""
    query = filter_credit_notes(session, tenant_id, select(CreditNote).join(
        Consumer, Consumer.id == CreditNote.consumer_id).join(
        Payment, Payment.id == CreditNote.payment_id), filters, now)
    order = (CreditNote.created_at.desc(), CreditNote.id.desc()) if newest_first else (
        CreditNote.created_at, CreditNote.id)
    return paginate(session, query, order, page, limit)


def filter_credit_notes(session: Session, tenant_id: int, query, filters: CreditNoteFilters,
                        now: dt.datetime):
    """``query`` (over CreditNote joined to Consumer and Payment) narrowed to the tenant and
    the filters of the credit notes list; the list and the export share it."""
    query = query.where(CreditNote.tenant_id == tenant_id)
    if filters.q:
        q = filters.q.strip()
        query = query.where(or_(contains(CreditNote.number, q), contains(Consumer.name, q),
                                contains(Consumer.account_number, q),
                                contains(Payment.receipt_number, q),
                                contains(Payment.number, q)))
    if filters.status == CreditNoteStatus.EXPIRED:
        query = query.where(or_(CreditNote.status == CreditNoteStatus.EXPIRED, and_(
            CreditNote.status == CreditNoteStatus.ACTIVE, CreditNote.expires_at <= now)))
    elif filters.status == CreditNoteStatus.ACTIVE:
        query = query.where(CreditNote.status == CreditNoteStatus.ACTIVE,
                            CreditNote.expires_at > now)
    elif filters.status:
        query = query.where(CreditNote.status == filters.status)
    date_from, date_to = filters.date_from, filters.date_to
    if filters.period in ("today", "week", "month"):
        today = local_today(session, tenant_id, now)
        date_to = today
        date_from = {"today": today, "week": today - dt.timedelta(days=today.weekday()),
                     "month": today.replace(day=1)}[filters.period]
    query = query.where(*_date_range(session, tenant_id, CreditNote.created_at, date_from,
                                     date_to))
    if filters.reasons:
        query = query.where(CreditNote.reason.in_(filters.reasons))
    if filters.account_number:
        query = query.where(Consumer.account_number == filters.account_number)
    if filters.receipt:
        query = query.where(or_(Payment.receipt_number == filters.receipt,
                                Payment.number == filters.receipt))
    used = CreditNote.applied
    if filters.remaining == "full":
        query = query.where(used == 0)
    elif filters.remaining == "partial":
        query = query.where(used > 0, used + CreditNote.reversed < CreditNote.amount)
    elif filters.remaining == "fully_used":
        query = query.where(used > 0, used + CreditNote.reversed >= CreditNote.amount)
    if filters.amount_min is not None:
        query = query.where(CreditNote.amount >= filters.amount_min)
    if filters.amount_max is not None:
        query = query.where(CreditNote.amount <= filters.amount_max)
    return query


def credit_note(session: Session, tenant_id: int, number: str) -> CreditNote:
    """A credit note by number, of this tenant, or NotFound."""
    row = session.scalar(select(CreditNote).where(CreditNote.tenant_id == tenant_id,
                                                  CreditNote.number == number))
    if row is None:
        raise NotFound(f"no credit note {number!r}")
    return row


def applications(session: Session, note: CreditNote) -> list[tuple[CreditNoteApplication,
                                                                    Receivable]]:
    """Where a credit note was applied, oldest first."""
    return list(session.execute(select(CreditNoteApplication, Receivable).join(
        Receivable, Receivable.id == CreditNoteApplication.receivable_id).where(
        CreditNoteApplication.credit_note_id == note.id).order_by(
        CreditNoteApplication.id)).all())
