"""What every payment operation shares: numbers, posting money, state changes, invariants."""

from __future__ import annotations

import datetime as dt

import attrs
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.db import after_commit
from loket.core.host.obligations import Ledger, obligation_of, pay
from loket.core.links import state as link_state
from loket.core.models import (
    Allocation,
    Consumer,
    CreditNote,
    Payment,
    PaymentLink,
    Receivable,
)
from loket.core.numbering import next_number, next_numbers
from loket.core.outbox import events as outbox_events
from loket.core.outbox import messages
from loket.core.payments import batch_reads, lifecycle, payers
from loket.core.payments.invariants import InvariantBroken
from loket.core.settings import Settings, load_settings
from loket.core.states import AllocationState, CreditNoteStatus, ReceivableStatus
from loket.errors import NotFound, ValidationFailed
from loket.money import Money
from loket.ops import logs
from loket.types import (
    DestinationTarget,
    Notification,
    PaymentInfo,
    ResolvedTarget,
    TrackingEvent,
)


def take_number(session: Session, settings: Settings, tenant_id: int, name: str,
                when: dt.datetime) -> str:
    """Take the next number of sequence ``name`` (payment, transaction, receipt, credit_note)."""
    return next_number(session, tenant_id, name, settings["number_formats"][name], when.date())


def take_numbers(session: Session, settings: Settings, tenant_id: int, name: str,
                 when: dt.datetime, count: int) -> list[str]:
    """Take the next ``count`` numbers of sequence ``name`` in one block."""
    return next_numbers(session, tenant_id, name, settings["number_formats"][name], when.date(),
                        count)


def lock_payment(session: Session, payment_id: int) -> Payment:
    """Re-read a payment with a row lock (PostgreSQL) and fresh values."""
    return session.scalars(select(Payment).where(Payment.id == payment_id)
                           .with_for_update().execution_options(populate_existing=True)).one()


def lock_receivables(session: Session, ids) -> dict[int, Receivable]:
    """Lock receivables in id order (a fixed order, so two writers never deadlock); those
    the caller's batch read ahead are locked already (:mod:`batch_reads`)."""
    reads = batch_reads.of(session)
    ahead = reads.locked_receivables(ids) if reads is not None else None
    if ahead is not None:
        return ahead
    rows = session.scalars(_LOCK_RECEIVABLES, {"ids": sorted(set(ids))}).all()
    return {r.id: r for r in rows}


_LOCK_RECEIVABLES = select(Receivable).where(
    Receivable.id.in_(bindparam("ids", expanding=True))).order_by(Receivable.id
    ).with_for_update().execution_options(populate_existing=True)


def snapshot(payment: Payment) -> dict:
    """The audit view of a payment."""
    return {
        "number": payment.number, "status": payment.status, "amount": payment.amount,
        "amount_received": payment.amount_received, "refunded": payment.refunded,
        "currency": payment.currency, "receipt_number": payment.receipt_number,
        "settlement_status": payment.settlement_status,
        "application_state": payment.application_state,
        "failure_category": payment.failure_category,
    }


def payment_info(session: Session, payment: Payment,
                 gateway_kind: str | None = None) -> PaymentInfo:
    """The outbound-hook view of a payment."""
    consumer = session.get(Consumer, payment.consumer_id) if payment.consumer_id else None
    return payment_info_of(payment, consumer, gateway_kind)


def payment_info_of(payment, consumer, gateway_kind: str | None = None) -> PaymentInfo:
    """:func:`payment_info` from a payment and its consumer already read (rows or objects
    with the same attributes, as block settlement reads them)."""
    return PaymentInfo(
        tenant_id=payment.tenant_id, payment_id=payment.number, status=payment.status,
        amount=Money(payment.amount_received, payment.currency),
        account_number=consumer.account_number if consumer else None, gateway=gateway_kind,
        failure_message=payment.failure_message,
        details={"receipt_number": payment.receipt_number, "is_test": payment.is_test,
                 "email": payers.notification_email(payment, consumer),
                 "name": consumer.name if consumer else None,
                 "payer_name": payment.payer_name, "payer_phone": payment.payer_phone},
    )


# The states a consumer hears about (their words: loket/core/outbox/templates).
CONSUMER_MESSAGES = frozenset({"initiated", "succeeded", "completed", "posted", "failed",
                               "refunded", "partially_refunded"})


def refresh_state(ctx, session: Session, actor: audit.Actor, payment: Payment, action: str,
                  before: dict | None) -> bool:
    """Derive the state from the payment's facts; when it changed, audit it and schedule the
    outbound hooks (status changed, consumer notification) for after the commit.

    :returns: whether the state changed.
    """
    old = before["status"] if before else None
    new = lifecycle.state_of(payment)
    payment.status = new
    logs.bind(payment=payment.number, tenant=payment.tenant_id)
    audit.record(session, actor, action, "payment", payment.number, before=before,
                 after=snapshot(payment), tenant_id=payment.tenant_id)
    if old == new:
        return False
    plugins = ctx.plugins
    if plugins.hears_status_changes():
        info = payment_info(session, payment)
        after_commit(session, lambda: plugins.payment_status_changed(info, old, new))
    tracked = state_tracked(payment, actor, old, new, ctx.now())
    after_commit(session, lambda: plugins.track(tracked))
    if payment.is_test:
        return True
    if payment.payment_link_id is not None and new in lifecycle.MONEY_TAKEN:
        link_state.after_money_taken(session, payment.payment_link_id, ctx.now())
    outbox_events.emit(session, payment.tenant_id, f"payment.{new}",
                       host_event_data(session, payment, old), f"payment:{payment.number}",
                       now=ctx.now())
    consumer = session.get(Consumer, payment.consumer_id) if payment.consumer_id else None
    if consumer is not None and new in CONSUMER_MESSAGES:
        settings = load_settings(session, payment.tenant_id)
        link = messages.receipt_url(ctx, messages.tenant_slug(session, payment.tenant_id),
                                    payment) if messages.carries_receipt_link(payment) else ""
        reached, note = consumer_message(settings, payment, consumer, new, link)
        messages.send_later(ctx, session, settings, reached, note, f"payment:{payment.number}")
        after_commit(session, lambda: plugins.notify(note))
    return True


def state_tracked(payment, actor: audit.Actor, old: str | None, new: str,
                  at: dt.datetime) -> TrackingEvent:
    """The behaviour-tracking event of a payment's state change (initiated, completed...)."""
    return TrackingEvent(
        tenant_id=payment.tenant_id, name=f"payment.{new}", actor=actor.name,
        properties={"payment_id": payment.number, "previous": old, "channel": payment.channel,
                    "method": payment.method, "amount": payment.amount_received,
                    "currency": payment.currency, "is_test": payment.is_test}, at=at)


def consumer_message(settings: Settings, payment, consumer, new: str,
                     receipt_url: str = "") -> tuple[Consumer, Notification]:
    """The message a payment's consumer gets when it reaches state ``new`` (one of those
    with a message): whom it reaches, and the notification; ``receipt_url`` is the receipt
    link it carries (:func:`loket.core.outbox.messages.receipt_url`)."""
    amount = Money(payment.amount_received, payment.currency).format(settings["locale"])
    # Receipts and notifications go to the payer (who may pay on the holder's behalf).
    reached = payers.contact(payment, consumer)
    note = messages.notification(
        settings, payment.tenant_id, f"payment.{new}",
        {"number": payment.number, "amount": amount, "receipt": payment.receipt_number or "",
         "reason": payment.failure_message or payment.failure_category, "name": reached.name,
         "receipt_url": receipt_url, "receipt_url_days": messages.RECEIPT_LINK_DAYS},
        {"payment_id": payment.number, "status": new, "outbox": True},
        tuple(a for _, a in messages.recipients(
            reached, messages.channels_for(settings, f"payment.{new}"))))
    return reached, note


def host_event_data(session: Session, payment: Payment, previous: str | None) -> dict:
    """What a ``payment.*`` host event says about the payment."""
    consumer = session.get(Consumer, payment.consumer_id) if payment.consumer_id else None
    link = session.get(PaymentLink, payment.payment_link_id) if payment.payment_link_id else None
    return host_event_data_of(payment, previous, consumer, link.key if link else None)


def host_event_data_of(payment, previous: str | None, consumer,
                       link_key: str | None) -> dict:
    """:func:`host_event_data` from a payment, its consumer and link key already read."""
    return {"payment": {
        "number": payment.number, "status": payment.status, "previous_status": previous,
        "amount": Money(payment.amount, payment.currency),
        "amount_received": Money(payment.amount_received, payment.currency),
        "refunded": Money(payment.refunded, payment.currency),
        "channel": payment.channel, "method": payment.method,
        "receipt_number": payment.receipt_number,
        "account_number": consumer.account_number if consumer else None,
        "payment_link": link_key,
        "failure": ({"category": payment.failure_category, "message": payment.failure_message}
                    if payment.failure_category else None)}}


def notify_later(ctx, session: Session, note: Notification) -> None:
    """Send a staff alert to ``note.recipients`` (e-mail addresses from the tenant's
    settings), nothing when it has none: written to the outbox in the caller's transaction
    (one e-mail delivery an address, tried right after the commit, retried by the worker,
    an ``outbox.dead`` to-do when given up), and handed to the notifier plugins after the
    commit (the built-in e-mail notifier leaves what the outbox carries to it)."""
    if not note.recipients:
        return
    carried = attrs.evolve(note, data={**note.data, "outbox": True})
    if "email" in ctx.plugins.channels:
        outbox_events.emit_message(
            session, carried, [("email", address) for address in note.recipients],
            f"staff:{note.kind}", now=ctx.now(),
            kick=lambda event_row_id: messages.kick(ctx, event_row_id))
    plugins = ctx.plugins
    after_commit(session, lambda: plugins.notify(carried))


def resolve_targets(ctx, session: Session, settings: Settings, tenant_id: int,
                    account_number: str, destination: str, values: dict) -> ResolvedTarget:
    """Map a destination's field values through the routing table and validate them with
    the processor (OPC VALIDATEONLY).

    :raises ValidationFailed: a field is missing, or the processor refused the target; its
        errors name the caller's fields (``tin``), never the processor's parameters they map
        to (``taxpayer_id``).
    :raises NotFound: the processor found nothing, named the same way.
    """
    route = settings.route(destination)
    ctx.plugins.require_processor(route["processor"])
    params = {}
    for field, param in route.get("fields", {}).items():
        if field not in values:
            raise ValidationFailed(f"destination {destination!r} needs field {field!r}",
                                   field=field)
        params[param] = values[field]
    try:
        return _validated(ctx, session, tenant_id, account_number, destination, route, params)
    except (ValidationFailed, NotFound) as exc:
        sent_as = {param: field for field, param in route.get("fields", {}).items()}
        exc.errors = [{**error, "field": sent_as[error["field"]]}
                      if isinstance(error, dict) and error.get("field") in sent_as else error
                      for error in exc.errors]
        raise


def _validated(ctx, session: Session, tenant_id: int, account_number: str, destination: str,
               route: dict, params: dict) -> ResolvedTarget:
    """The processor's answer for a target of ``route`` with parameters ``params``."""
    target = DestinationTarget(destination=destination, processor=route["processor"],
                               account_number=account_number, params=params)
    return ctx.plugins.validate_target(route["processor"], Ledger(session, tenant_id), target)


def resolve_item(ctx, session: Session, settings: Settings, tenant_id: int,
                 account_number: str, kind: str, reference: str) -> tuple[str, ResolvedTarget]:
    """Resolve one chosen item (a bill, service or installment by its reference) through
    the destination routed to the processor of that kind.

    :returns: ``(destination name, resolved target)``.
    :raises ValidationFailed: the processor refused the item; its errors name the
        processor's parameter (the caller sent a reference, not the route's fields).
    """
    destination = settings.destination_for_processor(kind)
    route = settings.route(destination)
    param = next(iter((route.get("fields") or {"reference": "reference"}).values()))
    return destination, _validated(ctx, session, tenant_id, account_number, destination, route,
                                   {param: reference})


def post_allocations(ctx, session: Session, payment: Payment, settings: Settings,
                     groups: list[tuple[str, list[int], int]]) -> int:
    """Apply money through the destination processors and write the allocations.

    :param groups: ``(destination, receivable ids in order, amount)`` per destination.
    :returns: what the processors left unallocated (the caller turns it into a credit note).
    :raises InvariantBroken: a processor allocated beyond what a receivable owes or beyond
        the amount it was given, or to a receivable of another account than the payment's.
    """
    leftover = 0
    all_ids = [rid for _dest, ids, _amount in groups for rid in ids]
    receivables = lock_receivables(session, all_ids)
    consumer = session.get_one(Consumer, payment.consumer_id)
    for destination, ids, amount in groups:
        processor = settings.route(destination)["processor"]
        obligations = tuple(obligation_of(receivables[rid]) for rid in ids
                            if receivables[rid].status == ReceivableStatus.OPEN)
        target = DestinationTarget(destination=destination, processor=processor,
                                   account_number=consumer.account_number)
        given = Money(amount, payment.currency)
        allocations = ctx.plugins.apply(processor, Ledger(session, payment.tenant_id),
                                        ResolvedTarget(target, consumer.account_number,
                                                       obligations), given) if obligations else []
        allocated = 0
        for allocation in allocations:
            receivable = receivables.get(allocation.receivable_id)
            value = allocation.amount.amount
            if receivable is None or value < 0 or allocation.amount.currency != payment.currency:
                raise InvariantBroken(f"processor {processor!r} allocated to an obligation it "
                                      f"was not given")
            if receivable.consumer_id != payment.consumer_id:
                raise InvariantBroken(f"processor {processor!r} would pay "
                                      f"{receivable.reference} of another account with payment "
                                      f"{payment.number}")
            if receivable.paid + value > receivable.amount:
                raise InvariantBroken(f"processor {processor!r} would pay "
                                      f"{receivable.reference} beyond its amount")
            pay(receivable, value)
            allocated += value
            session.add(Allocation(payment_id=payment.id, receivable_id=receivable.id,
                                   destination=destination, amount=value,
                                   state=AllocationState.POSTED))
        if allocated > amount:
            raise InvariantBroken(f"processor {processor!r} allocated more than it was given")
        leftover += amount - allocated
    return leftover


def create_credit_note(session: Session, settings: Settings, actor: audit.Actor,
                       payment: Payment, amount: int, reason: str, remarks: str,
                       automatic: bool, now: dt.datetime) -> CreditNote:
    """Issue a credit note against a payment (the caller has checked the amount)."""
    note = CreditNote(
        tenant_id=payment.tenant_id,
        number=take_number(session, settings, payment.tenant_id, "credit_note", now),
        payment_id=payment.id, consumer_id=payment.consumer_id, amount=amount,
        currency=payment.currency, reason=reason, remarks=remarks, automatic=automatic,
        status=CreditNoteStatus.ACTIVE, created_by=actor.name, created_at=now,
        expires_at=now + dt.timedelta(days=settings["credit_note_expiry_days"]),
    )
    session.add(note)
    session.flush()
    audit.record(session, actor, "credit_note.created", "credit_note", note.number,
                 after={"amount": amount, "reason": reason, "payment": payment.number,
                        "automatic": automatic}, tenant_id=payment.tenant_id)
    outbox_events.emit(session, payment.tenant_id, "credit_note.created",
                       {"credit_note": {"number": note.number, "payment": payment.number,
                                        "amount": Money(amount, payment.currency),
                                        "reason": reason, "automatic": automatic}},
                       f"payment:{payment.number}", now=now)
    return note
