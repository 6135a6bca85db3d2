"""Money recorded against a payment plan by staff (a recovery executive collecting, a cashier):
a counter payment to the plan's unpaid installments, oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.host.plan_changes import CHANGEABLE, installments, plan_by_reference, unpaid
from loket.core.models import Consumer, Payment
from loket.core.payments import counter_payments
from loket.core.payments.payers import Payer
from loket.errors import Conflict


def record_plan_payment(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
                        reference: str, body: dict[str, Any],
                        idempotency_key: str | None = None) -> Payment:
    """Record a payment against plan ``reference``: ``body`` holds the counter payment's
    fields (``method``, ``amount_received``, ``paid_on``, optional ``channel``,
    ``change_given``, ``notes``, ``payer``). The money goes to the plan's unpaid
    installments oldest first; an excess becomes a credit note as at the counter.

    The plan is locked first (as a reschedule or a cancellation locks it,
    :mod:`loket.core.host.plan_changes`): a payment and a change of one plan are made one
    after the other, the later one seeing what the earlier one did. The installments are
    locked later, when the payment posts to them, after its numbers are taken, as every
    counter payment does (locking them here first would deadlock with one).

    :raises NotFound: no such plan. :raises Conflict: the plan is completed or cancelled,
        or nothing is left to pay. :raises ValidationFailed: as a counter payment.
    """
    plan = plan_by_reference(session, tenant_id, reference, lock=True)
    if plan.status not in CHANGEABLE:
        raise Conflict(f"payment plan {plan.reference} is {plan.status}", field="plan")
    owing = unpaid(installments(session, plan))
    if not owing:
        raise Conflict(f"payment plan {plan.reference} has nothing left to pay", field="plan")
    owner = session.get_one(Consumer, plan.consumer_id)
    entry = counter_payments.CounterPayment(
        account_number=owner.account_number, payment_type="installment",
        method=body.get("method") or "", amount_received=body.get("amount_received") or "",
        paid_on=body.get("paid_on"), channel=body.get("channel"),
        references=tuple(r.reference for r in owing),
        change_given=body.get("change_given") or "0", notes=body.get("notes"),
        payer=Payer.from_json(body.get("payer")))
    return counter_payments.record_counter_payment(ctx, session, actor, tenant_id, entry,
                                                   idempotency_key=idempotency_key)
