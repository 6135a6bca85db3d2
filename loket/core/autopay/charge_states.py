"""Where the auto-pay of one receivable stands (:class:`ChargeState`), the idempotency key of
each of its attempts, and how a charge ends."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.autopay import reporting
from loket.core.autopay.reporting import AUTOPAY
from loket.core.models import AutopayCharge


class ChargeState(enum.StrEnum):
    """Where the auto-pay of one receivable stands."""

    SCHEDULED = "scheduled"    # waiting for its first attempt
    CHARGING = "charging"      # an attempt is recorded and the gateway is being asked
    RETRYING = "retrying"      # soft-declined; the next attempt is at next_attempt_at
    SUBMITTED = "submitted"    # the gateway answered pending: the payment's outcome decides
    SUCCEEDED = "succeeded"
    FAILED = "failed"          # hard decline, last attempt, or above the account's maximum
    CANCELLED = "cancelled"    # paid by other means, or auto-pay / the mandate stopped


DUE = (ChargeState.SCHEDULED, ChargeState.RETRYING, ChargeState.CHARGING)
"""The states in which a charge has an attempt to make (or to finish)."""


def request_key(charge: AutopayCharge, number: int) -> str:
    """The idempotency key of attempt ``number`` of a charge (per receivable and attempt)."""
    return f"autopay-{charge.tenant_id}-{charge.receivable_id}-{number}"


def finish(session: Session, charge: AutopayCharge, state: ChargeState, now: dt.datetime,
           reason: str) -> None:
    """End a charge in ``state`` (succeeded, failed or cancelled) for ``reason``, audited;
    called in the transaction that decided it."""
    charge.status = state
    charge.finished_at = now
    charge.next_attempt_at = None
    charge.last_message = reason if state == ChargeState.CANCELLED else charge.last_message
    audit.record(session, AUTOPAY, f"autopay.{state}", "autopay_charge", charge.id,
                 after={"reason": reason, "attempts": charge.attempts},
                 tenant_id=charge.tenant_id)


def give_up(session: Session, charge: AutopayCharge, payment_number: str, now: dt.datetime,
            waited: dt.timedelta) -> None:
    """End a charge whose last attempt the gateway never decided within ``waited``: failed
    without another attempt (the card may have been charged) and a to-do for staff to check
    payment ``payment_number`` at the gateway; the account is not told to pay another way."""
    finish(session, charge, ChargeState.FAILED, now, "outcome unknown")
    reporting.outcome_unknown(session, charge.tenant_id, charge.id, payment_number,
                              charge.attempts, waited)
