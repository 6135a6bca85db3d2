"""Payments that were started but never finished: failed once past their expiry.

Run by the periodic job; each payment in its own transaction, idempotent.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment
from loket.core.payments.posting import lock_payment, refresh_state, snapshot
from loket.core.webhooks import outcomes
from loket.types import EventType, PaymentStatus

log = logging.getLogger(__name__)


def payment_timeout_sweep(ctx, limit: int = 500) -> dict[str, int]:
    """Fail every ``initiated`` payment past its expiry, after asking the gateway once
    (:func:`expire_overdue`).

    :returns: how many payments ended in each state.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(Payment.id).where(
            Payment.status == PaymentStatus.INITIATED, Payment.expires_at <= now,
            Payment.gateway_configuration_id.is_not(None)).order_by(Payment.id).limit(limit)))
    counts: dict[str, int] = {}
    for payment_id in ids:
        try:
            with ctx.transaction() as session:
                state = expire_overdue(ctx, session, session.get(Payment, payment_id))
        except Exception:  # noqa: BLE001 - retried by the next sweep
            log.exception("timeout sweep of payment %s failed", payment_id)
            state = "error"
        counts[state] = counts.get(state, 0) + 1
    return counts


def expire_overdue(ctx, session: Session, payment: Payment) -> str:
    """Timeout sweep for one ``initiated`` payment past its expiry: ask the gateway once,
    apply its answer, otherwise fail it (timeout). Returns the resulting state."""
    payment = lock_payment(session, payment.id)
    if payment.status != PaymentStatus.INITIATED:
        return payment.status
    row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
    try:
        event = ctx.plugins.fetch_status(configs.config_value(ctx, session, row),
                                         payment.number, payment.gateway_reference)
    except Exception:  # noqa: BLE001 - asked once; an unanswerable gateway does not block
        log.warning("status of payment %s could not be fetched", payment.number,
                    exc_info=True)
        event = None
    if event is not None and event.type != EventType.PENDING:
        outcomes.apply_event(ctx, session, row, event)
    payment = lock_payment(session, payment.id)
    if payment.status == PaymentStatus.INITIATED:
        before = snapshot(payment)
        payment.failure_category = "timeout"
        payment.failure_message = "The payment was not completed in time"
        refresh_state(ctx, session, audit.SYSTEM, payment, "payment.timed_out", before)
    return payment.status
