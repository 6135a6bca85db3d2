"""Automatic payment agreements: a bank-debit payment needs an active agreement on the
account (the mandate behind auto-pay); otherwise it is refused with the reason.
"""

from __future__ import annotations

import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Consumer, PaymentAgreement
from loket.errors import Conflict, ValidationFailed

BANK_DEBIT_METHODS = frozenset({"bank_debit", "direct_debit"})


class AgreementStatus(enum.StrEnum):
    """Where an agreement stands; only ``active`` lets a bank debit through."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


def require_agreement(session: Session, consumer: Consumer, method: str
                      ) -> PaymentAgreement | None:
    """THE agreement check, called before any payment is created.

    :returns: the active agreement a bank-debit ``method`` runs under, or ``None`` for any
        other method (no agreement needed).
    :raises Conflict: a bank debit on an account without an active agreement, saying why
        (none on file, or the agreement's status and its reason).
    """
    if method not in BANK_DEBIT_METHODS:
        return None
    rows = session.scalars(select(PaymentAgreement).where(
        PaymentAgreement.tenant_id == consumer.tenant_id,
        PaymentAgreement.consumer_id == consumer.id).order_by(PaymentAgreement.id.desc())).all()
    for row in rows:
        if row.status == AgreementStatus.ACTIVE:
            return row
    if not rows:
        raise Conflict(f"account {consumer.account_number} has no automatic payment agreement; "
                       f"a bank debit needs an active one", field="method")
    latest = rows[0]
    reason = f": {latest.reason}" if latest.reason else ""
    raise Conflict(f"the automatic payment agreement {latest.reference} of account "
                   f"{consumer.account_number} is {latest.status}{reason}", field="method")


def upsert_agreement(session: Session, actor: audit.Actor, tenant_id: int, consumer: Consumer,
                     data: dict) -> PaymentAgreement:
    """Create or update an agreement by its reference (the host, or the mandates of auto-pay).

    :param data: ``reference``, ``status`` (active|suspended|cancelled), optional ``reason``.
    :raises ValidationFailed: a wrong status, or a reference that belongs to another account.
    """
    try:
        status = AgreementStatus(data.get("status") or "active")
    except ValueError:
        raise ValidationFailed("status must be active, suspended or cancelled",
                               field="status") from None
    row = session.scalar(select(PaymentAgreement).where(
        PaymentAgreement.tenant_id == tenant_id,
        PaymentAgreement.reference == data["reference"]))
    before = None
    if row is None:
        row = PaymentAgreement(tenant_id=tenant_id, consumer_id=consumer.id,
                               reference=data["reference"])
        session.add(row)
    elif row.consumer_id != consumer.id:
        raise ValidationFailed(f"agreement {data['reference']!r} belongs to another account",
                               field="account_number")
    else:
        before = {"status": row.status, "reason": row.reason}
    row.status = status
    row.reason = data.get("reason") or ""
    session.flush()
    audit.record(session, actor, "agreement.upserted", "agreement", row.reference,
                 before=before, after={"status": row.status, "reason": row.reason,
                                       "account": consumer.account_number},
                 tenant_id=tenant_id)
    return row
