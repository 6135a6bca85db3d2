"""The payer: who pays, recorded apart from the account holder (paying on behalf of another).

Receipts and notifications go to the payer; staff see both.
"""

from __future__ import annotations

import attrs

from loket.core.models import Consumer, Payment
from loket.errors import ValidationFailed


@attrs.frozen
class Payer:
    """Who hands over the money: a name and where to send the receipt."""

    name: str
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_json(cls, data: dict | None, field: str = "payer") -> Payer | None:
        """A payer from a request body's ``payer`` object, or ``None`` when absent.

        :raises ValidationFailed: a payer without a name.
        """
        if not data:
            return None
        name = str(data.get("name") or "").strip()
        if not name:
            raise ValidationFailed("the payer's name is required", field=f"{field}.name")
        return cls(name=name, email=data.get("email") or None, phone=data.get("phone") or None)

    @classmethod
    def holder(cls, consumer: Consumer) -> Payer:
        """The account holder paying for themselves."""
        return cls(name=consumer.name, email=consumer.email, phone=consumer.phone)


def record(payment: Payment, payer: Payer) -> None:
    """Write the payer on a new payment."""
    payment.payer_name = payer.name
    payment.payer_email = payer.email
    payment.payer_phone = payer.phone


def of(payment: Payment) -> Payer | None:
    """The payer recorded on a payment (``None`` on payments made before payers were kept)."""
    if payment.payer_name is None:
        return None
    return Payer(payment.payer_name, payment.payer_email, payment.payer_phone)


def notification_email(payment: Payment, consumer: Consumer | None) -> str | None:
    """Where a payment's receipt and notifications go: the payer, else the account holder."""
    if payment.payer_name is not None:
        return payment.payer_email
    return consumer.email if consumer else None


def contact(payment: Payment, consumer: Consumer) -> Consumer:
    """Whom a payment's messages reach: the account holder, or when someone else paid, a
    stand-in with the account's number and the payer's name and addresses (never added to
    the session)."""
    if payment.payer_name is None or (payment.payer_email == consumer.email
                                      and payment.payer_phone == consumer.phone):
        return consumer
    return Consumer(tenant_id=consumer.tenant_id, account_number=consumer.account_number,
                    name=payment.payer_name, email=payment.payer_email,
                    phone=payment.payer_phone, person_type=consumer.person_type)
