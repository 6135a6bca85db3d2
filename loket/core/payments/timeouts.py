"""Payments that were started but never finished: failed once past their expiry.

Run by the periodic job; each payment in its own transaction, idempotent. The gateway is
asked first; a payment whose status the gateway does not give (unreachable, an answer that
cannot be read) is not failed, since the payer may have paid: it is asked again on later
sweeps, and failed with a to-do for staff once :data:`UNANSWERED_FOR` has passed since its
expiry. The newest overdue payments are taken first, so payments a gateway cannot answer
for never hold back the others. Auto-pay payments are left to auto-pay
(:mod:`loket.core.autopay`), which asks the gateway under the attempt's own key and
settles pending attempts from their webhooks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment
from loket.core.payments.posting import lock_payment, refresh_state, snapshot
from loket.core.todos import raise_todo
from loket.core.webhooks import outcomes
from loket.errors import GatewayError
from loket.types import EventType, PaymentStatus

log = logging.getLogger(__name__)

AUTOPAY = "autopay"
TIMEOUT = "timeout"
"""The failure category of a payment the sweep failed: nobody decided it in time."""
UNANSWERED = "unanswered"
"""What :func:`expire_overdue` returns for a payment left initiated because the gateway
could not be reached (a network error or a timeout)."""
UNREADABLE = "unreadable"
"""... and because the gateway's answer could not be used (any other error)."""
UNREACHABLE = frozenset({"network", "timeout"})
UNANSWERED_FOR = dt.timedelta(hours=24)
SILENT_LIMIT = 3
"""Status checks of one configuration left unanswered in a sweep after which its other
payments wait for the next sweep (a gateway that is down is not asked for each of them)."""


def payment_timeout_sweep(ctx, limit: int = 500) -> dict[str, int]:
    """Fail every ``initiated`` payment past its expiry, after asking the gateway
    (:func:`expire_overdue`).

    :returns: how many payments ended in each state (``unanswered``, ``unreadable``: left
        for a later sweep; ``deferred``: not asked, their gateway having been unreachable
        :data:`SILENT_LIMIT` times in this sweep).
    """
    now = ctx.now()
    with ctx.transaction() as session:
        rows = session.execute(select(Payment.id, Payment.gateway_configuration_id).where(
            Payment.status == PaymentStatus.INITIATED, Payment.expires_at <= now,
            Payment.gateway_configuration_id.is_not(None), Payment.channel != AUTOPAY)
            .order_by(Payment.id.desc()).limit(limit)).all()
    counts: dict[str, int] = {}
    silent: Counter[int] = Counter()
    for payment_id, config_id in rows:
        if silent[config_id] >= SILENT_LIMIT:
            state = "deferred"
        else:
            try:
                with ctx.transaction() as session:
                    state = expire_overdue(ctx, session, session.get(Payment, payment_id))
            except Exception:  # noqa: BLE001 - retried by the next sweep
                log.exception("timeout sweep of payment %s failed", payment_id)
                state = "error"
            if state == UNANSWERED:
                silent[config_id] += 1
        counts[state] = counts.get(state, 0) + 1
    return counts


def expire_overdue(ctx, session: Session, payment: Payment) -> str:
    """Timeout sweep for one ``initiated`` payment past its expiry: ask the gateway, apply
    its answer, otherwise fail it (timeout). Without an answer the payment stays initiated
    (:data:`UNANSWERED` or :data:`UNREADABLE` is returned) until :data:`UNANSWERED_FOR`
    after its expiry; then it is failed and staff get a ``payment.status_unknown`` to-do. A
    payment with no gateway reference is failed at once (its payer never reached the
    gateway's page). Returns the resulting state.
    """
    payment = lock_payment(session, payment.id)
    if payment.status != PaymentStatus.INITIATED:
        return payment.status
    row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
    answered, unreachable = True, False
    try:
        event = ctx.plugins.fetch_status(configs.config_value(ctx, session, row),
                                         payment.number, payment.gateway_reference)
    except Exception as exc:  # noqa: BLE001 - an unanswerable gateway does not block the sweep
        log.warning("status of payment %s could not be fetched", payment.number,
                    exc_info=True)
        # Without a gateway reference the payer never got the gateway's page: nothing to
        # wait for.
        event, answered = None, payment.gateway_reference is None
        unreachable = isinstance(exc, GatewayError) and exc.category in UNREACHABLE
    if event is not None and event.type != EventType.PENDING:
        outcomes.apply_event(ctx, session, row, event)
    payment = lock_payment(session, payment.id)
    if payment.status != PaymentStatus.INITIATED:
        return payment.status
    if not answered:
        if not _waited_out(ctx.now(), payment.expires_at):
            return UNANSWERED if unreachable else UNREADABLE
        raise_todo(session, payment.tenant_id, "payment.status_unknown",
                   f"Check at the gateway whether payment {payment.number} was paid",
                   detail=f"The gateway gave no status for this payment for "
                          f"{UNANSWERED_FOR.total_seconds() / 3600:.0f} hours after it "
                          f"expired; loket failed it (a later gateway event still counts).",
                   entity_type="payment", entity_id=payment.number,
                   dedupe_key=f"status-unknown:{payment.tenant_id}:{payment.id}")
    fail_timed_out(ctx, session, payment)
    return payment.status


def fail_timed_out(ctx, session: Session, payment: Payment) -> None:
    """Fail a locked ``initiated`` payment as not completed in time (``timeout``), audited
    and told like any state change; a later gateway event that took money still counts."""
    before = snapshot(payment)
    payment.failure_category = TIMEOUT
    payment.failure_message = "The payment was not completed in time"
    refresh_state(ctx, session, audit.SYSTEM, payment, "payment.timed_out", before)


def _waited_out(now: dt.datetime, expires_at: dt.datetime | None) -> bool:
    if expires_at is None:
        return True
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
    return now - expires_at >= UNANSWERED_FOR
