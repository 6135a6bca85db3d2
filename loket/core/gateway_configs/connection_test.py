"""The end of a gateway's connection test: the test payment's webhook arrived, so the
configuration is connected and the test payment is refunded. An earlier test's payment
paid after a newer test started (the admin connected twice) is refunded all the same; only
the latest test connects."""

from __future__ import annotations

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
from loket.errors import GatewayError
from loket.money import Money
from loket.types import RefundRequest, RefundStatus, json_safe

REFUND_BY_HAND = "gateway.test_refund_failed"
"""The to-do kind raised when the gateway refuses a connection test's refund."""


def finish_connection_test(ctx, session: Session, row: GatewayConfiguration,
                           payment: Payment) -> None:
    """The test payment went through and its webhook arrived: refund it and, when it is the
    configuration's latest test, the configuration is connected.

    Called by event application when a test payment's money is taken, and again by a later
    event of the payment while its refund was refused. The refund is of what is left to
    refund, read under the payment's lock: what staff refunded meanwhile (the to-do asked
    them to) is not refunded again, and nothing left to refund closes the to-do.
    """
    # The payment first (every change of a payment locks it first), then the configuration,
    # re-read under the lock: the caller's row may be a copy read before (a webhook's first
    # transaction), and a test started since must not be taken for this one.
    payment = lock_payment(session, payment.id)
    row = session.get_one(GatewayConfiguration, row.id, with_for_update=True,
                          populate_existing=True)
    latest = row.test_payment_id == payment.id
    if latest:
        row.connected = True
        row.connected_at = ctx.now()
    response = dict(row.test_response or {})
    left = give_back_capacity(session, payment)
    if left > 0:
        _refund(ctx, session, row, payment, left, response)
    else:
        response.pop("refund_error", None)
        close_connection_test_todo(session, payment, "nothing is left to refund: the "
                                   "payment was refunded meanwhile", ctx.now())
    name = configs.name_of(row)
    if not latest:
        audit.record(session, audit.SYSTEM, "gateway.test_refunded", "gateway", name,
                     after={"test_payment": payment.number, "refund": response.get("refund")},
                     tenant_id=row.tenant_id)
        return
    row.test_response = response
    audit.record(session, audit.SYSTEM, "gateway.connected", "gateway", name,
                 after={"connected": True, "test_payment": payment.number},
                 tenant_id=row.tenant_id)


def _refund(ctx, session: Session, row: GatewayConfiguration, payment: Payment, left: int,
            response: dict) -> None:
    """Ask the gateway to refund ``left`` (minor units) of the test payment; what it answers
    goes into ``response``. Refused: one to-do for staff to refund it by hand. Taken: the
    to-do raised when it was refused at first is closed."""
    config = configs.config_value(ctx, session, row)
    # The whole payment under one id, so that a retry after a lost answer asks for the same
    # refund; what is left after a partial refund by staff is another refund.
    refund_id = f"{payment.number}-R" + ("" if left == payment.amount_received else f"-{left}")
    try:
        result = ctx.plugins.refund(config, RefundRequest(
            refund_id=refund_id, payment_id=payment.number,
            gateway_reference=payment.gateway_reference or "",
            amount=Money(left, payment.currency), captured=Money(left, payment.currency),
            reason="requested_by_customer", details=payment.gateway_details or {}))
    except GatewayError as exc:
        refused: str | None = exc.gateway_message or exc.detail
    else:
        response["refund"] = {"reference": result.refund_reference, "status": result.status,
                              "raw": json_safe(result.raw)}
        record_refund(session, payment, left, result.refund_reference, result.status,
                      "connection test", "system", now=ctx.now())
        payment.status = lifecycle.state_of(payment)
        refused = None if result.status != RefundStatus.FAILED else (
            str(result.raw.get("message") or "") or "the gateway refused the refund")
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


def test_payment(session: Session, row: GatewayConfiguration) -> Payment | None:
    """The payment of a configuration's latest connection test, or None before the first."""
    return session.get(Payment, row.test_payment_id) if row.test_payment_id else None
