"""What the gateway's answer to an auto-pay attempt does to the charge and the attempt's
payment: a success pays the receivable; a pending answer waits for the payment's own outcome
(:func:`settle_submitted`); a soft decline is tried again on the tenant's
``autopay.retry_days``; a hard decline, or the last soft one, fails the charge and tells the
account to pay another way.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from loket import types as t
from loket.core.autopay import reporting
from loket.core.autopay.charge_states import ChargeState, finish, give_up, request_key
from loket.core.models import (
    AutopayAttempt,
    AutopayCharge,
    Consumer,
    GatewayConfiguration,
    Payment,
    Receivable,
)
from loket.core.payments.lifecycle import MONEY_TAKEN
from loket.core.payments.posting import lock_payment
from loket.core.payments.timeouts import fail_timed_out
from loket.core.settings import load_settings
from loket.core.webhooks import outcomes
from loket.money import Money
from loket.types import (
    ChargeOutcome,
    DeclineKind,
    GatewayEvent,
    MandateChargeResult,
    PaymentStatus,
)

log = logging.getLogger(__name__)
SUBMITTED_FOR = dt.timedelta(days=7)
"""How long an attempt the gateway answered pending may wait for its payment's outcome
(a bank debit takes a few working days) before it is left to staff."""


def record_result(ctx: Any, charge_id: int, number: int, result: MandateChargeResult
                  ) -> str:
    """Apply the gateway's answer to attempt ``number`` of a charge, to its payment and the
    charge (the attempt's second transaction; the first recorded it before the gateway was
    asked). Returns the charge's state afterwards."""
    now = ctx.now()
    with ctx.transaction() as session:
        charge = session.scalars(select(AutopayCharge).where(AutopayCharge.id == charge_id)
                                 .with_for_update()
                                 .execution_options(populate_existing=True)).one()
        row_attempt = session.scalar(select(AutopayAttempt).where(
            AutopayAttempt.charge_id == charge.id, AutopayAttempt.attempt == number))
        if charge.status != ChargeState.CHARGING or row_attempt.outcome != "pending":
            return str(charge.status)  # recorded by a concurrent run
        payment = session.get_one(Payment, row_attempt.payment_id)
        row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
        receivable = session.get_one(Receivable, charge.receivable_id)
        consumer = session.get_one(Consumer, charge.consumer_id)
        row_attempt.outcome = str(result.outcome)
        if result.gateway_reference and not payment.gateway_reference:
            payment.gateway_reference = result.gateway_reference
        amount = Money(payment.amount_received, payment.currency)
        next_at = None
        if result.outcome == ChargeOutcome.SUCCEEDED:
            outcomes.apply_event(ctx, session, row, GatewayEvent(
                event_id=f"autopay:{request_key(charge, number)}", type=t.EVENT_SUCCEEDED,
                payment_id=payment.number,
                gateway_reference=result.gateway_reference, amount=amount, occurred_at=now))
            finish(session, charge, ChargeState.SUCCEEDED, now, "paid")
        elif result.outcome == ChargeOutcome.PENDING:
            charge.status = ChargeState.SUBMITTED
            charge.next_attempt_at = None
        else:
            next_at = _declined(ctx, session, row, charge, row_attempt, number, result, now)
        if result.outcome != ChargeOutcome.DECLINED:
            _set_autopay_details(payment, number, result, None)
        reporting.attempt_reported(ctx, session, consumer, receivable, payment.number, number,
                                   str(result.outcome), result.decline_code,
                                   str(result.decline_kind) if result.decline_kind else None,
                                   next_at)
        return str(charge.status)


def _declined(ctx: Any, session: Session, row: GatewayConfiguration, charge: AutopayCharge,
              row_attempt: AutopayAttempt, number: int, result: MandateChargeResult,
              now: dt.datetime) -> dt.datetime | None:
    """Record a declined attempt on its payment and the charge: a retry is scheduled for a
    soft decline with tries left, otherwise the charge fails and the consumer is told.

    :returns: when the next attempt runs, or None when there is none.
    """
    payment = session.get_one(Payment, row_attempt.payment_id)
    kind = result.decline_kind or DeclineKind.HARD
    row_attempt.decline_code = result.decline_code
    row_attempt.decline_kind = str(kind)
    row_attempt.message = result.message
    charge.last_decline_code = result.decline_code
    charge.last_decline_kind = str(kind)
    charge.last_message = result.message
    next_at = next_try(session, charge, kind)
    row_attempt.next_attempt_at = next_at
    _set_autopay_details(payment, number, result, next_at)
    if payment.status == PaymentStatus.INITIATED:
        outcomes.apply_event(ctx, session, row, GatewayEvent(
            event_id=f"autopay:{request_key(charge, number)}", type=t.EVENT_FAILED,
            payment_id=payment.number, gateway_reference=result.gateway_reference,
            failure_message=result.message, failure_code=result.decline_code,
            failure_category="declined", occurred_at=now))
    if next_at is not None:
        charge.status = ChargeState.RETRYING
        charge.next_attempt_at = next_at
        return next_at
    finish(session, charge, ChargeState.FAILED, now, f"{kind} decline {result.decline_code}")
    reporting.notify_autopay_failed(ctx, session, session.get_one(Consumer, charge.consumer_id),
                                    session.get_one(Receivable, charge.receivable_id),
                                    payment.number, charge.attempts, result.decline_code,
                                    result.message)
    return None


def settle_submitted(ctx: Any, limit: int = 200) -> int:
    """Finish the charges whose attempt the gateway answered pending once that attempt's
    payment has ended (its webhook decided it): succeeded when it took the money; a failed
    one as a soft decline (tried again on the schedule, or the charge fails and the account
    is told); a cancelled one cancels the charge. An attempt still undecided
    :data:`SUBMITTED_FOR` after it was made is left to staff (its payment failed as timed
    out, an ``autopay.outcome_unknown`` to-do). Called by the periodic job before it makes
    the due attempts; each charge in its own transaction, one failing leaves the others.

    :returns: how many charges were looked at.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = session.scalars(select(AutopayCharge.id).join(AutopayAttempt, and_(
            AutopayAttempt.charge_id == AutopayCharge.id,
            AutopayAttempt.attempt == AutopayCharge.attempts))
            .join(Payment, Payment.id == AutopayAttempt.payment_id)
            .where(AutopayCharge.status == ChargeState.SUBMITTED,
                   or_(Payment.status != PaymentStatus.INITIATED,
                       AutopayAttempt.at <= now - SUBMITTED_FOR))
            .order_by(AutopayCharge.id).limit(limit)).all()
    for charge_id in ids:
        try:
            with ctx.transaction() as session:
                _settle(ctx, session, charge_id)
        except Exception:  # noqa: BLE001 - one broken charge must not stop the others
            log.exception("auto-pay charge %s could not be settled", charge_id)
    return len(ids)


def _settle(ctx: Any, session: Session, charge_id: int) -> None:
    now = ctx.now()
    charge = session.scalars(select(AutopayCharge).where(AutopayCharge.id == charge_id)
                             .with_for_update().execution_options(populate_existing=True)).one()
    if charge.status != ChargeState.SUBMITTED:
        return  # settled by a concurrent run
    row_attempt = session.scalars(select(AutopayAttempt).where(
        AutopayAttempt.charge_id == charge.id,
        AutopayAttempt.attempt == charge.attempts)).one()
    payment = lock_payment(session, row_attempt.payment_id)
    undecided = payment.status == PaymentStatus.INITIATED  # for SUBMITTED_FOR
    if undecided:
        fail_timed_out(ctx, session, payment)
    if payment.status in MONEY_TAKEN:
        row_attempt.outcome = str(ChargeOutcome.SUCCEEDED)
        finish(session, charge, ChargeState.SUCCEEDED, now, "paid")
    elif undecided:
        give_up(session, charge, payment.number, now, SUBMITTED_FOR)
    elif payment.status == PaymentStatus.FAILED:
        # The gateway's failure event does not say whether trying again can succeed: a
        # soft decline, so the schedule bounds the tries.
        row_attempt.outcome = str(ChargeOutcome.DECLINED)
        _declined(ctx, session, session.get_one(GatewayConfiguration,
                                                payment.gateway_configuration_id),
                  charge, row_attempt, charge.attempts, MandateChargeResult(
                      outcome=ChargeOutcome.DECLINED,
                      decline_code=payment.failure_code or "failed",
                      decline_kind=DeclineKind.SOFT, message=payment.failure_message), now)
    else:
        finish(session, charge, ChargeState.CANCELLED, now, f"payment {payment.status}")


def _set_autopay_details(payment: Payment, number: int, result: MandateChargeResult,
                         next_at: dt.datetime | None) -> None:
    payment.gateway_details = {**(payment.gateway_details or {}), "autopay": {
        "attempt": number, "outcome": str(result.outcome),
        "decline_code": result.decline_code,
        "decline_kind": str(result.decline_kind) if result.decline_kind else None,
        "next_attempt_at": next_at.isoformat() if next_at else None}}


def next_try(session: Session, charge: AutopayCharge, kind: DeclineKind
             ) -> dt.datetime | None:
    """When to try again after a decline: never after a hard one; after a soft one, the
    next day of the tenant's schedule counted from the charge's first attempt since it was
    scheduled (again: :attr:`AutopayCharge.created_at`), ``None`` once the schedule is used
    up."""
    if kind != DeclineKind.SOFT:
        return None
    days = load_settings(session, charge.tenant_id)["autopay"]["retry_days"]
    made = session.scalars(select(AutopayAttempt.at).where(
        AutopayAttempt.charge_id == charge.id, AutopayAttempt.at >= charge.created_at)
        .order_by(AutopayAttempt.attempt)).all()
    if not made or len(made) > len(days):
        return None
    first = made[0] if made[0].tzinfo else made[0].replace(tzinfo=dt.UTC)
    return first + dt.timedelta(days=days[len(made) - 1])
