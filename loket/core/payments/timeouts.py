"""Payments that were started but never finished: failed once past their expiry.

Run by the periodic job; each payment in its own transaction, idempotent.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from loket.core.models import Payment
from loket.core.webhooks import outcomes
from loket.types import PaymentStatus

log = logging.getLogger(__name__)


def payment_timeout_sweep(ctx, limit: int = 500) -> dict[str, int]:
    """Fail every ``initiated`` payment past its expiry, after asking the gateway once
    (:func:`loket.core.webhooks.outcomes.expire_overdue`).

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
                state = outcomes.expire_overdue(ctx, session, session.get(Payment, payment_id))
        except Exception:  # noqa: BLE001 - retried by the next sweep
            log.exception("timeout sweep of payment %s failed", payment_id)
            state = "error"
        counts[state] = counts.get(state, 0) + 1
    return counts
