"""Auto-pay charges: what is due is charged to the account's mandate without the payer.

The periodic job (:func:`run_due`) first finishes the charges whose pending attempt has
ended (:func:`~loket.core.autopay.answers.settle_submitted`), then schedules a charge for
every open receivable of an auto-pay account whose due date, less the tenant's
``autopay.days_before_due``, has come (again for one whose earlier charge was cancelled
and that is owed and covered by auto-pay again); then it makes every due attempt.

An attempt is a payment like any other online payment (intended allocations; the
gateway's answer applied through the same outcome path as a webhook) and is idempotent per
receivable and attempt number: the attempt is recorded and committed before the gateway is
called, and the gateway's idempotency key is ``autopay-{tenant}-{receivable}-{attempt}``,
so a job run twice, or on two machines, charges once.

What the gateway's answer does is :mod:`loket.core.autopay.answers`: soft declines are
tried again on the tenant's ``autopay.retry_days``, a hard decline stops at once. An
attempt the gateway did not answer (a ``GatewayError``: it may have charged) is no
decline: it is asked again under its key until :data:`UNKNOWN_FOR`, then left to staff.
A receivable paid by other means before an attempt cancels the charge; a consumer who
elects another mandate has the next attempt made on it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loket import types as t
from loket.core import audit
from loket.core.autopay import answers, reporting
from loket.core.autopay.charge_states import (
    DUE,
    ChargeState,
    finish,
    give_up,
    request_key,
)
from loket.core.gateway_configs import configs
from loket.core.models import (
    Allocation,
    AutopayAttempt,
    AutopayCharge,
    AutopayElection,
    Consumer,
    GatewayConfiguration,
    Mandate,
    Payment,
    Receivable,
)
from loket.core.payments.posting import lock_payment, refresh_state, take_number
from loket.core.payments.timeouts import fail_timed_out
from loket.core.settings import load_settings
from loket.errors import GatewayError
from loket.money import Money
from loket.types import (
    ChargeOutcome,
    DeclineKind,
    MandateChargeRequest,
    MandateChargeResult,
    MandateStatus,
    PaymentStatus,
)

log = logging.getLogger(__name__)
ACTOR = reporting.AUTOPAY


# An attempt whose answer was not recorded (a crash, or no answer) is asked again, with the
# same idempotency key, once this long has passed.
RECOVER_AFTER = dt.timedelta(minutes=10)
# Gateways keep an idempotency key about a day (Stripe: 24 hours); asked after that, an
# attempt could charge the card twice.
UNKNOWN_FOR = dt.timedelta(hours=20)
REFUSALS = frozenset({"declined", "insufficient_funds"})
"""``GatewayError`` categories that say the gateway refused the charge (a soft decline)."""


def run_due(ctx: Any, limit: int = 200) -> dict[str, int]:
    """The periodic job: schedule what has become due, then make every due attempt.

    :returns: counts by what happened (``scheduled`` and one per charge state reached).
    """
    answers.settle_submitted(ctx)
    counts: dict[str, int] = {"scheduled": schedule_due(ctx)}
    with ctx.transaction() as session:
        ids = session.scalars(select(AutopayCharge.id).where(
            AutopayCharge.status.in_([str(s) for s in DUE]),
            AutopayCharge.next_attempt_at <= ctx.now())
            .order_by(AutopayCharge.next_attempt_at, AutopayCharge.id).limit(limit)).all()
    for charge_id in ids:
        try:
            state = attempt(ctx, charge_id)
        except Exception:  # noqa: BLE001 - one broken charge must not stop the others
            log.exception("auto-pay charge %s failed", charge_id)
            state = "error"
        counts[state] = counts.get(state, 0) + 1
    return counts


def schedule_due(ctx: Any) -> int:
    """Create a charge for each open receivable of an active election whose charge date
    (due date less ``days_before_due``) has come in the tenant's time zone. Returns how many
    were scheduled."""
    now = ctx.now()
    scheduled = 0
    with ctx.transaction() as session:
        rows = session.execute(
            select(AutopayElection, Receivable, AutopayCharge)
            .join(Receivable, Receivable.consumer_id == AutopayElection.consumer_id)
            .join(Mandate, Mandate.id == AutopayElection.mandate_id)
            .outerjoin(AutopayCharge, AutopayCharge.receivable_id == Receivable.id)
            .where(AutopayElection.active.is_(True), Receivable.status == "open",
                   Receivable.due_date.is_not(None), Mandate.status == MandateStatus.ACTIVE,
                   or_(AutopayCharge.id.is_(None),
                       AutopayCharge.status == ChargeState.CANCELLED))).all()
        for election, receivable, cancelled in rows:
            if receivable.kind not in election.item_kinds:
                continue
            settings = load_settings(session, election.tenant_id)
            today = now.astimezone(ZoneInfo(settings["timezone"])).date()
            lead = settings["autopay"]["days_before_due"]
            if receivable.due_date - dt.timedelta(days=lead) > today:
                continue
            if cancelled is not None:
                _schedule_again(session, cancelled, election.mandate_id, now)
                scheduled += 1
                continue
            try:
                with session.begin_nested():
                    session.add(AutopayCharge(
                        tenant_id=election.tenant_id, consumer_id=election.consumer_id,
                        receivable_id=receivable.id, mandate_id=election.mandate_id,
                        status=ChargeState.SCHEDULED, next_attempt_at=now, created_at=now))
                    session.flush()
            except IntegrityError:
                continue  # scheduled by a concurrent run
            scheduled += 1
    return scheduled


def _schedule_again(session: Session, charge: AutopayCharge, mandate_id: int,
                    now: dt.datetime) -> None:
    """A cancelled charge whose receivable is owed and covered by auto-pay again: scheduled
    again on the elected mandate; its attempts go on counting (each with its own key)."""
    session.refresh(charge, with_for_update=True)
    if charge.status != ChargeState.CANCELLED:
        return  # scheduled again by a concurrent run
    charge.status = ChargeState.SCHEDULED
    charge.mandate_id = mandate_id
    charge.next_attempt_at = now
    charge.finished_at = None
    charge.created_at = now  # its retry schedule counts from its next attempt
    audit.record(session, ACTOR, "autopay.scheduled", "autopay_charge", charge.id,
                 after={"reason": "owed again", "attempts": charge.attempts},
                 tenant_id=charge.tenant_id)


def attempt(ctx: Any, charge_id: int) -> str:
    """Make the charge's due attempt (or finish the one a crash left half-way).

    :returns: the charge's state afterwards.
    """
    prepared = _record_attempt(ctx, charge_id)
    if isinstance(prepared, str):
        return prepared
    config, request = prepared
    try:
        result = ctx.plugins.mandate_charge(config, request)
    except GatewayError as exc:
        if exc.category in REFUSALS:  # the gateway refused: nothing was charged
            return answers.record_result(ctx, charge_id, request.attempt, MandateChargeResult(
                outcome=ChargeOutcome.DECLINED, decline_code=exc.gateway_code or exc.category,
                decline_kind=DeclineKind.SOFT, message=exc.gateway_message or exc.detail))
        # No answer or not a decline (a timeout, the gateway down): it may have charged.
        log.warning("auto-pay charge %s attempt %s: outcome unknown (%s)", charge_id,
                    request.attempt, exc.detail)
        return str(ChargeState.CHARGING)
    return answers.record_result(ctx, charge_id, request.attempt, result)


def _record_attempt(ctx: Any, charge_id: int
                    ) -> str | tuple[t.GatewayConfig, MandateChargeRequest]:
    """Transaction 1: check the charge is still wanted, record the attempt and its payment."""
    now = ctx.now()
    with ctx.transaction() as session:
        charge = session.scalars(select(AutopayCharge).where(AutopayCharge.id == charge_id)
                                 .with_for_update()
                                 .execution_options(populate_existing=True)).one()
        if charge.status not in DUE or (charge.next_attempt_at and
                                        charge.next_attempt_at > now):
            return str(charge.status)
        receivable = session.get_one(Receivable, charge.receivable_id)
        consumer = session.get_one(Consumer, charge.consumer_id)
        mandate = session.get_one(Mandate, charge.mandate_id)
        row = session.get_one(GatewayConfiguration, mandate.gateway_configuration_id)
        if charge.status == ChargeState.CHARGING:  # the gateway's answer was never recorded
            pending = session.scalars(select(AutopayAttempt).where(
                AutopayAttempt.charge_id == charge.id,
                AutopayAttempt.attempt == charge.attempts)).one()
            started = pending.at if pending.at.tzinfo else pending.at.replace(
                tzinfo=dt.UTC)
            if now - started < RECOVER_AFTER:
                return str(charge.status)  # another run may still be waiting for the gateway
            payment = session.get_one(Payment, pending.payment_id)
            if now - started > UNKNOWN_FOR:
                payment = lock_payment(session, payment.id)
                if payment.status == PaymentStatus.INITIATED:  # left to staff: not open
                    fail_timed_out(ctx, session, payment)
                give_up(session, charge, payment.number, now, UNKNOWN_FOR)
                return str(charge.status)
            return (configs.config_value(ctx, session, row),
                    _request(charge, receivable, mandate, payment))
        election = session.scalar(select(AutopayElection).where(
            AutopayElection.consumer_id == charge.consumer_id))
        if election is not None and election.mandate_id != charge.mandate_id:
            # Another mandate elected since: the next attempt (its own key) charges it.
            charge.mandate_id = election.mandate_id
            mandate = session.get_one(Mandate, charge.mandate_id)
            row = session.get_one(GatewayConfiguration, mandate.gateway_configuration_id)
        stop = _reason_to_stop(receivable, mandate, election)
        if stop is not None:
            finish(session, charge, ChargeState.CANCELLED, now, stop)
            return str(charge.status)
        assert election is not None  # a charge goes on only while its election is active
        outstanding = receivable.amount - receivable.paid
        if election.max_amount is not None and outstanding > election.max_amount:
            finish(session, charge, ChargeState.FAILED, now, "above the account's maximum")
            reporting.notify_autopay_failed(
                ctx, session, consumer, receivable, "", charge.attempts, "above_maximum",
                f"{Money(outstanding, receivable.currency)} is above the auto-pay maximum "
                f"{Money(election.max_amount, receivable.currency)}")
            return str(charge.status)
        payment = _new_payment(ctx, session, charge, receivable, row, now)
        charge.attempts += 1
        charge.status = ChargeState.CHARGING
        session.add(AutopayAttempt(charge_id=charge.id, attempt=charge.attempts,
                                   payment_id=payment.id, outcome="pending", at=now))
        session.flush()
        return (configs.config_value(ctx, session, row),
                _request(charge, receivable, mandate, payment))


def _reason_to_stop(receivable: Receivable, mandate: Mandate,
                    election: AutopayElection | None) -> str | None:
    if receivable.status != "open" or receivable.paid >= receivable.amount:
        return "paid by other means"
    if mandate.status != MandateStatus.ACTIVE:
        return f"mandate {mandate.status}"
    if election is None or not election.active:
        return "auto-pay switched off"
    if receivable.kind not in election.item_kinds:
        return f"auto-pay no longer covers {receivable.kind}s"
    return None


def _new_payment(ctx: Any, session: Session, charge: AutopayCharge, receivable: Receivable,
                 row: GatewayConfiguration, now: dt.datetime) -> Payment:
    settings = load_settings(session, charge.tenant_id)
    destination = settings.destination_for_processor(receivable.kind)
    outstanding = receivable.amount - receivable.paid
    payment = Payment(
        tenant_id=charge.tenant_id, consumer_id=charge.consumer_id,
        number=take_number(session, settings, charge.tenant_id, "payment", now),
        transaction_number=take_number(session, settings, charge.tenant_id, "transaction", now),
        gateway_configuration_id=row.id, channel="autopay", method="card",
        payment_type=receivable.kind, destination=destination, status="initiated",
        verification="unverified", settlement_status="N/A", currency=receivable.currency,
        amount=outstanding, fee=0, amount_received=outstanding, created_by=ACTOR.name,
        created_at=now, expires_at=now + dt.timedelta(minutes=settings["payment_timeout_minutes"]),
        gateway_details={"autopay": {"attempt": charge.attempts + 1}})
    session.add(payment)
    session.flush()
    session.add(Allocation(payment_id=payment.id, receivable_id=receivable.id,
                           destination=destination, amount=outstanding, state="intended"))
    refresh_state(ctx, session, ACTOR, payment, "payment.initiated", None)
    return payment


def _request(charge: AutopayCharge, receivable: Receivable, mandate: Mandate,
             payment: Payment) -> MandateChargeRequest:
    return MandateChargeRequest(
        charge_id=request_key(charge, charge.attempts),
        payment_id=payment.number, amount=Money(payment.amount_received, payment.currency),
        token=mandate.token or "", gateway_customer=mandate.gateway_customer,
        description=f"Auto-pay {receivable.kind} {receivable.reference}",
        attempt=charge.attempts)
