"""The payer: who pays, recorded apart from the account holder (paying on behalf of another).

Receipts and notifications go to the payer; staff see both.
"""

from __future__ import annotations

from email.headerregistry import Address

import attrs

from loket.core.models import Consumer, Payment
from loket.core.text import storable
from loket.errors import ValidationFailed


@attrs.frozen
class Payer:
    """Who hands over the money: a name and where to send the receipt."""

    name: str
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_json(cls, data: dict | None, field: str = "payer") -> Payer | None:
        """A payer from a request body's ``payer`` object (or a form's payer fields), or
        ``None`` when absent; each text trimmed.

        :raises ValidationFailed: naming the field: a payer without a name, a text longer
            than its column or holding what the database cannot store, or an e-mail that is
            not exactly one address.
        """
        if not data:
            return None
        name, email, phone = (_text(data, part, field) for part in ("name", "email", "phone"))
        if not name:
            raise ValidationFailed("the payer's name is required", field=f"{field}.name")
        if email is not None:
            _check_mailbox(email, f"{field}.email")
        return cls(name=name, email=email, phone=phone)

    @classmethod
    def holder(cls, consumer: Consumer) -> Payer:
        """The account holder paying for themselves."""
        return cls(name=consumer.name, email=consumer.email, phone=consumer.phone)


LIMITS = {"name": 200, "email": 200, "phone": 50}
"""The longest text of each payer field (characters): the payment's columns."""
_WORDS = {"name": "name", "email": "e-mail", "phone": "phone"}


def _text(data: dict, part: str, field: str) -> str | None:
    """``data[part]`` trimmed (``None`` when empty), checked against its column."""
    text = str(data.get(part) or "").strip()
    if len(text) > LIMITS[part]:
        raise ValidationFailed(f"the payer's {_WORDS[part]} must be at most {LIMITS[part]} "
                               f"characters long", field=f"{field}.{part}")
    if not storable(text):
        raise ValidationFailed(f"the payer's {_WORDS[part]} contains a NUL character or a lone "
                               f"UTF-16 surrogate", field=f"{field}.{part}")
    return text or None


def _check_mailbox(email: str, field: str) -> None:
    """Refuse an e-mail that is not exactly one address: a list (``a@x, b@y``) would send the
    payment's messages to strangers from the tenant's address, a line break breaks them."""
    if not _one_address(email):
        raise ValidationFailed("the payer's e-mail must be one e-mail address, such as "
                               "name@example.com", field=field)


def _one_address(email: str) -> bool:
    if any(c in email for c in ",;") or not email.isprintable():
        return False
    try:
        address = Address(addr_spec=email)
    except Exception:  # noqa: BLE001 - the parser raises several kinds for a bad address
        return False
    return bool(address.username and address.domain)


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
