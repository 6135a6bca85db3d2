"""The end of a gateway's connection test: the test payment's webhook arrived, so the
configuration is connected and the test payment is refunded. An earlier test's payment
paid after a newer test started (the admin connected twice) is refunded all the same; only
the latest test connects."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment, Todo
from loket.core.payments import lifecycle
from loket.core.payments.refunds import record_refund
from loket.core.states import TodoStatus
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
        refused: str | None = exc.gateway_message or exc.detail
    else:
        response["refund"] = {"reference": result.refund_reference, "status": result.status,
                              "raw": json_safe(result.raw)}
        record_refund(session, payment, payment.amount_received, result.refund_reference,
                      result.status, "connection test", "system")
        payment.status = lifecycle.state_of(payment)
        refused = None if result.status != RefundStatus.FAILED else (
            str(result.raw.get("message") or "") or "the gateway refused the refund")
    if refused is not None:
        response["refund_error"] = refused
        _refund_by_hand(session, row, payment, refused)
    else:
        response.pop("refund_error", None)
        _refunded_after_all(ctx, session, payment)
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


def _refund_by_hand(session: Session, row: GatewayConfiguration, payment: Payment,
                    refused: str) -> None:
    """The gateway refused the test payment's refund: one to-do for staff to refund it by
    hand, however often a later event of the payment retries the refund."""
    raise_todo(session, payment.tenant_id, REFUND_BY_HAND,
               f"Refund the {configs.name_of(row)} connection test payment {payment.number} "
               f"by hand", detail=refused, entity_type="payment", entity_id=payment.number,
               dedupe_key=_refund_key(payment))


def _refunded_after_all(ctx, session: Session, payment: Payment) -> None:
    """The gateway took the test payment's refund on a retry: the to-do raised when it
    refused at first is closed, so nobody refunds the payment a second time."""
    todo = session.scalar(select(Todo).where(
        Todo.tenant_id == payment.tenant_id, Todo.dedupe_key == _refund_key(payment),
        Todo.status == TodoStatus.OPEN))
    if todo is None:
        return
    todo.status = TodoStatus.RESOLVED
    todo.resolution = "loket refunded the payment when it tried again"
    todo.resolved_by = audit.SYSTEM.name
    todo.resolved_at = ctx.now()
    audit.record(session, audit.SYSTEM, "todo.resolved", "todo", todo.id,
                 before={"status": "open"},
                 after={"status": "resolved", "resolution": todo.resolution},
                 tenant_id=todo.tenant_id)


def _refund_key(payment: Payment) -> str:
    # The payment's id, not its number: numbers repeat across tenants.
    return f"test-refund:{payment.id}"


def test_payment(session: Session, row: GatewayConfiguration) -> Payment | None:
    """The payment of a configuration's latest connection test, or None before the first."""
    return session.get(Payment, row.test_payment_id) if row.test_payment_id else None
