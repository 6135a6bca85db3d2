"""The end of a gateway's connection test: the test payment's webhook arrived, so the
configuration is connected and the test payment is refunded. An earlier test's payment
paid after a newer test started (the admin connected twice) is refunded all the same; only
the latest test connects. A refund the gateway left unanswered (a timeout, an error of
its own) may have been made: it is asked again under the same refund id by
:func:`retry_unanswered_refunds`, never left to staff until :data:`UNANSWERED_FOR` passed."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment
from loket.core.payments import lifecycle
from loket.core.payments.invariants import give_back_capacity
from loket.core.payments.posting import lock_payment
from loket.core.payments.refunds import (
    close_connection_test_todo,
    connection_test_todo_key,
    record_refund,
)
from loket.core.todos import raise_todo
from loket.errors import GatewayError, RefundNotPossible
from loket.money import Money
from loket.types import RefundRequest, RefundStatus, json_safe

log = logging.getLogger(__name__)

REFUND_BY_HAND = "gateway.test_refund_failed"
"""The to-do kind raised when the gateway refuses a connection test's refund."""
REFUSALS = frozenset({"declined", "insufficient_funds"})
"""The categories of a :class:`~loket.errors.GatewayError` that say the gateway answered no
(as :class:`~loket.errors.RefundNotPossible` does); any other error leaves the outcome
unknown."""
UNANSWERED = "test_refund_unanswered_since"
"""The key in the payment's ``gateway_details`` of when its refund was first left
unanswered: while it is there, the refund is asked again."""
UNANSWERED_FOR = dt.timedelta(hours=24)


def finish_connection_test(ctx, session: Session, row: GatewayConfiguration,
                           payment: Payment) -> None:
    """The test payment went through and its webhook arrived: refund it and, when it is the
    configuration's latest test, the configuration is connected.

    Called by event application when a test payment's money is taken, and again by a later
    event of the payment while its refund was refused or left unanswered. The refund is of
    what is left to refund, read under the payment's lock: what staff refunded meanwhile
    (the to-do asked them to) is not refunded again, and nothing left to refund closes the
    to-do.
    """
    row, payment, response = _refund_what_is_left(ctx, session, row, payment)
    name = configs.name_of(row)
    if row.test_payment_id != payment.id:
        audit.record(session, audit.SYSTEM, "gateway.test_refunded", "gateway", name,
                     after={"test_payment": payment.number, "refund": response.get("refund")},
                     tenant_id=row.tenant_id)
        return
    row.connected = True
    row.connected_at = ctx.now()
    row.test_response = response
    audit.record(session, audit.SYSTEM, "gateway.connected", "gateway", name,
                 after={"connected": True, "test_payment": payment.number},
                 tenant_id=row.tenant_id)


def _refund_what_is_left(ctx, session: Session, row: GatewayConfiguration, payment: Payment
                         ) -> tuple[GatewayConfiguration, Payment, dict]:
    """Refund what is left of the test payment (nothing left: close the to-do). Returns the
    configuration and the payment read again under their locks, and the configuration's
    test response with what the gateway answered."""
    # The payment first (every change of a payment locks it first), then the configuration,
    # re-read under the lock: the caller's row may be a copy read before (a webhook's first
    # transaction), and a test started since must not be taken for this one.
    payment = lock_payment(session, payment.id)
    row = session.get_one(GatewayConfiguration, row.id, with_for_update=True,
                          populate_existing=True)
    response = dict(row.test_response or {}) if row.test_payment_id == payment.id else {}
    left = give_back_capacity(session, payment)
    if left > 0:
        _refund(ctx, session, row, payment, left, response)
    else:
        _answered(payment, response)
        response.pop("refund_error", None)
        close_connection_test_todo(session, payment, "nothing is left to refund: the "
                                   "payment was refunded meanwhile", ctx.now())
    return row, payment, response


def _refund(ctx, session: Session, row: GatewayConfiguration, payment: Payment, left: int,
            response: dict) -> None:
    """Ask the gateway to refund ``left`` (minor units) of the test payment; what it answers
    goes into ``response``. Refused: one to-do for staff to refund it by hand. Taken: the
    to-do raised when it was refused at first is closed. Unanswered (the gateway may have
    refunded): no to-do, the refund is asked again (:func:`_unanswered`)."""
    config = configs.config_value(ctx, session, row)
    # The whole payment under one id, so that a retry after a lost answer asks for the same
    # refund; what is left after a partial refund by staff is another refund.
    refund_id = f"{payment.number}-R" + ("" if left == payment.amount_received else f"-{left}")
    refused: str | None = None
    try:
        result = ctx.plugins.refund(config, RefundRequest(
            refund_id=refund_id, payment_id=payment.number,
            gateway_reference=payment.gateway_reference or "",
            amount=Money(left, payment.currency), captured=Money(left, payment.currency),
            reason="requested_by_customer", details=payment.gateway_details or {}))
    except GatewayError as exc:
        refused = exc.gateway_message or exc.detail
        if not (isinstance(exc, RefundNotPossible) or exc.category in REFUSALS):
            refused = _unanswered(ctx, payment, response, refused)
            if refused is None:
                return
    else:
        response["refund"] = {"reference": result.refund_reference, "status": result.status,
                              "raw": json_safe(result.raw)}
        record_refund(session, payment, left, result.refund_reference, result.status,
                      "connection test", "system", now=ctx.now())
        payment.status = lifecycle.state_of(payment)
        refused = None if result.status != RefundStatus.FAILED else (
            str(result.raw.get("message") or "") or "the gateway refused the refund")
    _answered(payment, response)
    if refused is not None:
        response["refund_error"] = refused
        raise_todo(session, payment.tenant_id, REFUND_BY_HAND,
                   f"Refund the {configs.name_of(row)} connection test payment "
                   f"{payment.number} by hand", detail=refused, entity_type="payment",
                   entity_id=payment.number, dedupe_key=connection_test_todo_key(payment))
    else:
        response.pop("refund_error", None)
        close_connection_test_todo(session, payment, "loket refunded the payment when it "
                                   "tried again", ctx.now())


def _unanswered(ctx, payment: Payment, response: dict, words: str) -> str | None:
    """The gateway gave no answer to the refund (``words``): it may have refunded. Marks the
    payment for :func:`retry_unanswered_refunds` and returns None; once
    :data:`UNANSWERED_FOR` has passed since the first such answer, returns what the to-do
    for staff says instead."""
    details = dict(payment.gateway_details or {})
    since = dt.datetime.fromisoformat(details.get(UNANSWERED) or ctx.now().isoformat())
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    if ctx.now() - since >= UNANSWERED_FOR:
        return (f"The gateway gave no answer to the refund for "
                f"{UNANSWERED_FOR.total_seconds() / 3600:.0f} hours ({words}): check at the "
                f"gateway whether it refunded the payment before refunding it by hand.")
    payment.gateway_details = {**details, UNANSWERED: since.isoformat()}
    response["refund_pending"] = (f"The gateway did not answer ({words}); whether it "
                                  f"refunded is unknown. loket asks it again for the same "
                                  f"refund.")
    return None


def _answered(payment: Payment, response: dict) -> None:
    """The gateway answered the refund (took it or refused it): nothing is left to ask
    again."""
    response.pop("refund_pending", None)
    if UNANSWERED in (payment.gateway_details or {}):
        payment.gateway_details = {k: v for k, v in payment.gateway_details.items()
                                   if k != UNANSWERED}


def retry_unanswered_refunds(ctx, limit: int = 100) -> dict[str, int]:
    """Ask the gateway again for the connection test refunds it left unanswered, under the
    same refund id (the gateway makes it once). Run by the periodic payment timeout job;
    each payment in its own transaction; the configuration is not connected again nor its
    connection audited again at each try.

    :returns: how many payments ended ``answered``, still ``unanswered``, or in ``error``.
    """
    with ctx.transaction() as session:
        ids = session.scalars(select(Payment.id).where(
            Payment.is_test.is_(True), Payment.gateway_configuration_id.is_not(None),
            Payment.gateway_details[UNANSWERED].as_string().is_not(None))
            .order_by(Payment.id).limit(limit)).all()
    counts: Counter[str] = Counter()
    for payment_id in ids:
        try:
            with ctx.transaction() as session:
                payment = session.get_one(Payment, payment_id)
                row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
                state = _retry(ctx, session, row, payment)
        except Exception:  # noqa: BLE001 - retried by the next run
            log.exception("retry of the connection test refund of payment %s failed",
                          payment_id)
            state = "error"
        counts[state] += 1
    return dict(counts)


def _retry(ctx, session: Session, row: GatewayConfiguration, payment: Payment) -> str:
    """Ask again for one unanswered test refund; the configuration's connection is left as
    it is (its test already connected it). Audited once the gateway answered."""
    row, payment, response = _refund_what_is_left(ctx, session, row, payment)
    if row.test_payment_id == payment.id:
        row.test_response = response
    if UNANSWERED in (payment.gateway_details or {}):
        return "unanswered"
    audit.record(session, audit.SYSTEM, "gateway.test_refund_retried", "gateway",
                 configs.name_of(row), after={"test_payment": payment.number,
                                              "refund": response.get("refund"),
                                              "refused": response.get("refund_error")},
                 tenant_id=row.tenant_id)
    return "answered"


def test_payment(session: Session, row: GatewayConfiguration) -> Payment | None:
    """The payment of a configuration's latest connection test, or None before the first."""
    return session.get(Payment, row.test_payment_id) if row.test_payment_id else None
