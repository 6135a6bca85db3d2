"""What auto-pay tells people and the host: attempts, failures, ended mandates.

Everything here is written in the caller's transaction: host events go to the outbox (and
the audit trail, entity ``host_event``); when auto-pay gives up, the consumer gets a payment
link for the item on the account's channels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.db import after_commit
from loket.core.links import links
from loket.core.models import AutopayElection, Consumer, Mandate, Receivable
from loket.core.outbox import events as outbox_events
from loket.core.outbox import messages
from loket.core.settings import load_settings
from loket.core.todos import raise_todo
from loket.errors import LoketError
from loket.money import Money

AUTOPAY = audit.Actor("autopay", "system")


def emit_host_event(session: Session, tenant_id: int, event_type: str, subject: str,
                    data: dict[str, Any]) -> None:
    """Record an event for the host (``autopay.attempted``, ``autopay.failed``,
    ``autopay.stopped``) in the caller's transaction: an outbox event (signed webhooks and
    the feed) and an audit row of entity ``host_event``."""
    audit.record(session, AUTOPAY, event_type, "host_event", subject, after=data,
                 tenant_id=tenant_id)
    outbox_events.emit(session, tenant_id, event_type, data, f"autopay:{subject}")


def _notify(ctx: Any, session: Session, consumer: Consumer, kind: str,
            values: dict[str, Any], data: dict[str, Any]) -> None:
    """Tell the consumer on the tenant's channels for ``kind``, through the outbox (this
    transaction); the notifier plugins hear it after the commit."""
    settings = load_settings(session, consumer.tenant_id)
    note = messages.notification(settings, consumer.tenant_id, kind, values,
                                 {**data, "outbox": True})
    messages.send_later(ctx, session, settings, consumer, note,
                        f"autopay:{consumer.account_number}")
    plugins = ctx.plugins
    after_commit(session, lambda: plugins.notify(note))


def mandate_ended(ctx: Any, session: Session, mandate: Mandate, reason: str) -> None:
    """A mandate was revoked, expired or failed: stop every election using it, tell the
    consumer and the host."""
    consumer = session.get_one(Consumer, mandate.consumer_id)
    elections = session.scalars(select(AutopayElection).where(
        AutopayElection.mandate_id == mandate.id, AutopayElection.active.is_(True))).all()
    for election in elections:
        election.active = False
        election.stop_reason = f"mandate {mandate.reference} {mandate.status}"
        audit.record(session, AUTOPAY, "autopay.stopped", "autopay", consumer.account_number,
                     after={"mandate": mandate.reference, "reason": reason},
                     tenant_id=mandate.tenant_id)
        emit_host_event(session, mandate.tenant_id, "autopay.stopped", consumer.account_number,
                        {"account_number": consumer.account_number,
                         "mandate": mandate.reference, "reason": reason})
    if elections:
        _notify(ctx, session, consumer, "autopay.stopped",
                {"account": consumer.account_number, "status": mandate.status,
                 "method": f"{mandate.brand} {mandate.last4}"},
                {"account_number": consumer.account_number, "mandate": mandate.reference})


def attempt_reported(ctx: Any, session: Session, consumer: Consumer, receivable: Receivable,
                     payment_number: str, attempt: int, outcome: str,
                     decline_code: str | None, decline_kind: str | None,
                     next_attempt_at: Any) -> None:
    """Every attempt becomes a host event (attempt number, decline code, next try)."""
    emit_host_event(session, consumer.tenant_id, "autopay.attempted", payment_number, {
        "account_number": consumer.account_number, "receivable": receivable.reference,
        "kind": receivable.kind, "payment": payment_number, "attempt": attempt,
        "outcome": outcome, "decline_code": decline_code, "decline_kind": decline_kind,
        "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None})


def notify_autopay_failed(ctx: Any, session: Session, consumer: Consumer,
                          receivable: Receivable, payment_number: str, attempts: int,
                          decline_code: str | None, message: str | None) -> None:
    """Auto-pay of ``receivable`` gave up (a hard decline, or the last soft one): raise a
    to-do for staff, tell the consumer to pay another way and tell the host
    ``autopay.failed`` — all in the caller's transaction.

    This is the one place where a payment link for the receivable is created and sent by
    the account's channels, and where the host event enters the outbox.
    """
    outstanding = Money(receivable.amount - receivable.paid, receivable.currency)
    link_url = _link_for(ctx, session, consumer, receivable)
    raise_todo(session, consumer.tenant_id, "autopay.failed",
               f"Auto-pay of {receivable.kind} {receivable.reference} failed for account "
               f"{consumer.account_number}",
               detail=f"{attempts} attempt(s); last decline {decline_code or 'unknown'}: "
                      f"{message or ''}".strip(),
               entity_type="receivable", entity_id=receivable.reference,
               dedupe_key=f"autopay.failed:{consumer.tenant_id}:{receivable.id}")
    emit_host_event(session, consumer.tenant_id, "autopay.failed", receivable.reference, {
        "account_number": consumer.account_number, "receivable": receivable.reference,
        "kind": receivable.kind, "amount": outstanding.to_json(), "payment": payment_number,
        "attempts": attempts, "decline_code": decline_code, "message": message,
        "payment_link": link_url})
    locale = load_settings(session, consumer.tenant_id)["locale"]
    _notify(ctx, session, consumer, "autopay.failed",
            {"amount": outstanding.format(locale), "kind": receivable.kind,
             "reference": receivable.reference, "reason": message or decline_code,
             "link": f": {link_url}" if link_url else "."},
            {"account_number": consumer.account_number, "receivable": receivable.reference})


def outcome_unknown(session: Session, tenant_id: int, charge_id: int, payment_number: str,
                    attempt: int, asked_for: dt.timedelta) -> None:
    """Raise the to-do for an auto-pay attempt the gateway never answered while it was
    asked again for ``asked_for``: staff check at the gateway whether the card was
    charged (the charge is not tried again; the payment's own events still settle it)."""
    raise_todo(session, tenant_id, "autopay.outcome_unknown",
               f"Check at the gateway whether auto-pay payment {payment_number} was charged",
               detail=f"The gateway did not answer attempt {attempt} of this auto-pay charge "
                      f"for {asked_for.total_seconds() / 3600:.0f} hours; it is not tried "
                      f"again.", entity_type="payment", entity_id=payment_number,
               dedupe_key=f"autopay-unknown:{tenant_id}:{charge_id}")


def _link_for(ctx: Any, session: Session, consumer: Consumer,
              receivable: Receivable) -> str | None:
    """A payment link for the item, sent on the account's default channels; ``None`` (and
    nothing written) when the account cannot take one, e.g. no address for any channel."""
    request = links.LinkRequest(account_number=consumer.account_number,
                                items=[{"kind": receivable.kind,
                                        "reference": receivable.reference}],
                                description="Automatic payment failed")
    try:
        with session.begin_nested():
            link = links.create_link(ctx, session, AUTOPAY, consumer.tenant_id, request)
    except LoketError:
        return None
    return links.url_of(ctx, link)
