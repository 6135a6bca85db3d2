"""A payment link's state: active -> paid | expired | cancelled.

A part payment keeps the link active until its items are paid or it expires. A link whose
chosen bills were all withdrawn before any was paid (the host cancelled them, a payment
plan took them over) is cancelled by loket, never reported paid. Every change
is audited and written to the outbox (``payment_link.paid``, ``.expired``, ``.cancelled``)
in the transaction that made it.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Consumer, Payment, PaymentLink, Receivable
from loket.core.outbox import events as outbox_events
from loket.money import Money
from loket.types import PaymentStatus


class LinkStatus(enum.StrEnum):
    """The states of a payment link."""

    ACTIVE = "active"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


AMOUNT_POLICIES = ("full", "partial")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def lock_link(session: Session, link_id: int) -> PaymentLink:
    """Re-read a link with a row lock (PostgreSQL) and fresh values."""
    return session.scalars(select(PaymentLink).where(PaymentLink.id == link_id)
                           .with_for_update().execution_options(populate_existing=True)).one()


def receivables_of(session: Session, link: PaymentLink) -> list[Receivable]:
    """The receivables a link asks for: its chosen ones, or every open one of the account
    (``everything open``), oldest due first."""
    query = select(Receivable).where(Receivable.tenant_id == link.tenant_id,
                                     Receivable.consumer_id == link.consumer_id)
    if link.receivable_ids is not None:
        query = query.where(Receivable.id.in_(link.receivable_ids))
    else:
        query = query.where(Receivable.status == "open")
    rows = session.scalars(query.order_by(Receivable.due_date.is_(None), Receivable.due_date,
                                          Receivable.id)).all()
    return list(rows)


def outstanding(session: Session, link: PaymentLink) -> int:
    """What the link's items still owe (minor units)."""
    return sum(r.amount - r.paid for r in receivables_of(session, link) if r.status == "open")


def event_data(link: PaymentLink, consumer: Consumer | None = None) -> dict[str, Any]:
    """What a ``payment_link.*`` host event says."""
    return {"payment_link": {
        "id": link.key, "status": link.status, "account_number":
            consumer.account_number if consumer else None,
        "amount_policy": link.amount_policy, "multi_use": link.multi_use,
        "minimum": Money(link.minimum, link.currency) if link.minimum else None,
        "expires_at": _aware(link.expires_at).isoformat()}}


def change(session: Session, actor: audit.Actor, link: PaymentLink, status: LinkStatus,
           now: dt.datetime) -> None:
    """Move a link to ``status``: audit and host event in the caller's transaction. A
    cancelled link's checkouts still open expire now."""
    before = {"status": link.status}
    link.status = status
    if status == LinkStatus.PAID:
        link.paid_at = now
    elif status == LinkStatus.CANCELLED:
        link.cancelled_at = now
        _expire_open_checkouts(session, actor, link, now)
    audit.record(session, actor, f"payment_link.{status}", "payment_link", link.key,
                 before=before, after={"status": status}, tenant_id=link.tenant_id)
    outbox_events.emit(session, link.tenant_id, f"payment_link.{status}",
                       event_data(link, session.get(Consumer, link.consumer_id)),
                       f"payment_link:{link.key}", now=now)


def refresh(session: Session, link: PaymentLink, now: dt.datetime,
            actor: audit.Actor = audit.SYSTEM, money_in: bool = False) -> LinkStatus:
    """Bring an active link up to date: ``paid`` once its items owe nothing (for an
    "everything open" link: once a payment through it, ``money_in``, left nothing open),
    ``cancelled`` once its chosen items are all withdrawn (cancelled, taken into a plan)
    with none paid and no money through it this time, ``expired`` past its expiry. Called
    when the page is opened, when a payment through it takes money, and by the expiry
    sweep, with the link locked or not: a change is decided
    again under the link's row lock, on ``link`` read afresh, so a link paid or cancelled
    meanwhile stays so and each change is made, and told to the host, once.

    :returns: the link's status after the check.
    """
    if link.status != LinkStatus.ACTIVE or _due(session, link, now, money_in) is None:
        return LinkStatus(link.status)
    session.refresh(link, with_for_update=True)
    due = _due(session, link, now, money_in) if link.status == LinkStatus.ACTIVE else None
    if due is not None:
        change(session, actor, link, due, now)
    return LinkStatus(link.status)


def _due(session: Session, link: PaymentLink, now: dt.datetime,
         money_in: bool) -> LinkStatus | None:
    """The state an active link is now due to move to, if any."""
    if link.receivable_ids is not None and outstanding(session, link) <= 0:
        # Nothing left open: paid when money came in or a bill was paid, else its bills were
        # withdrawn (cancelled by the host, taken over by a payment plan), and so is the link.
        chosen = receivables_of(session, link)
        if money_in or any(r.status == "paid" for r in chosen):
            return LinkStatus.PAID
        return LinkStatus.CANCELLED
    if link.receivable_ids is None and money_in and outstanding(session, link) <= 0:
        # "Everything open" is paid once a payment through it leaves nothing open.
        return LinkStatus.PAID
    if _aware(link.expires_at) <= now:
        return LinkStatus.EXPIRED
    return None


def _expire_open_checkouts(session: Session, actor: audit.Actor, link: PaymentLink,
                           now: dt.datetime) -> None:
    """Move the expiry of every checkout still open through the link to ``now``, audited."""
    # A checkout another transaction holds (a webhook applying the gateway's word) is passed
    # over: that webhook locks the link after the payment, so waiting for it could deadlock.
    open_now = session.scalars(select(Payment).where(
        Payment.payment_link_id == link.id, Payment.status == PaymentStatus.INITIATED,
        Payment.expires_at > now).order_by(Payment.id).with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)).all()
    for payment in open_now:
        was = payment.expires_at
        assert was is not None  # only checkouts expiring after now were taken
        was = was.replace(tzinfo=was.tzinfo or dt.UTC)  # SQLite gives naive UTC
        audit.record(session, actor, "payment.link_cancelled", "payment", payment.number,
                     before={"expires_at": was.isoformat()},
                     after={"expires_at": now.isoformat(), "payment_link": link.key},
                     tenant_id=payment.tenant_id)
        payment.expires_at = now


def after_money_taken(session: Session, link_id: int, now: dt.datetime) -> None:
    """A payment through the link took money: the link may now be paid (called from the
    payment's state change, in its transaction)."""
    refresh(session, lock_link(session, link_id), now, money_in=True)


def expire_due(ctx: Any) -> int:
    """The expiry sweep: every active link past its expiry becomes ``expired``.

    :returns: how many links expired.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(PaymentLink.id).where(
            PaymentLink.status == LinkStatus.ACTIVE, PaymentLink.expires_at <= now)))
    for link_id in ids:
        with ctx.transaction() as session:
            refresh(session, lock_link(session, link_id), now)
    return len(ids)
