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
from loket.core.payments.refunds import record_refund
from loket.core.todos import raise_todo
from loket.errors import GatewayError
from loket.money import Money
from loket.types import RefundRequest, json_safe


def finish_connection_test(ctx, session: Session, row: GatewayConfiguration,
                           payment: Payment) -> None:
    """The test payment went through and its webhook arrived: refund it and, when it is the
    configuration's latest test, the configuration is connected.

    Called by event application when a test payment's money is taken.
    """
    # Re-read under the lock: the caller's row may be a copy read before (a webhook's first
    # transaction), and a test started since must not be taken for this one.
    row = session.get_one(GatewayConfiguration, row.id, with_for_update=True,
                          populate_existing=True)
    latest = row.test_payment_id == payment.id
    if latest:
        row.connected = True
        row.connected_at = ctx.now()
    config = configs.config_value(ctx, session, row)
    refund_id = f"{payment.number}-R"
    response = dict(row.test_response or {})
    try:
        result = ctx.plugins.refund(config, RefundRequest(
            refund_id=refund_id, payment_id=payment.number,
            gateway_reference=payment.gateway_reference or "",
            amount=Money(payment.amount_received, payment.currency),
            captured=Money(payment.amount_received, payment.currency),
            reason="requested_by_customer", details=payment.gateway_details or {}))
    except GatewayError as exc:
        response["refund_error"] = exc.gateway_message or exc.detail
        raise_todo(session, payment.tenant_id, "gateway.test_refund_failed",
                   f"Refund the {row.kind} connection test payment {payment.number} by hand",
                   detail=exc.detail, entity_type="payment", entity_id=payment.number)
    else:
        response["refund"] = {"reference": result.refund_reference, "status": result.status,
                              "raw": json_safe(result.raw)}
        record_refund(session, payment, payment.amount_received, result.refund_reference,
                      result.status, "connection test", "system")
        payment.status = lifecycle.state_of(payment)
    if not latest:
        audit.record(session, audit.SYSTEM, "gateway.test_refunded", "gateway", row.kind,
                     after={"test_payment": payment.number, "refund": response.get("refund")},
                     tenant_id=row.tenant_id)
        return
    row.test_response = response
    audit.record(session, audit.SYSTEM, "gateway.connected", "gateway", row.kind,
                 after={"connected": True, "test_payment": payment.number},
                 tenant_id=row.tenant_id)


def test_payment(session: Session, row: GatewayConfiguration) -> Payment | None:
    """The payment of a configuration's latest connection test, or None before the first."""
    return session.get(Payment, row.test_payment_id) if row.test_payment_id else None
