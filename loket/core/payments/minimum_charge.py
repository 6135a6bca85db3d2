"""The least a gateway charges (its ``minimum_charge``), checked before a checkout is made.

An amount below it would only fail at the gateway; it is refused first, as the payer's
input, before any payment is recorded or the gateway is asked.
"""

from __future__ import annotations

from loket.errors import ValidationFailed
from loket.money import Money
from loket.types import GatewayDescription


class BelowMinimumCharge(ValidationFailed):
    """The amount is less than the chosen gateway charges; the payer pays more, or pays
    another way. Carries the gateway's name and minimum, for a page to say it in the payer's
    language."""

    def __init__(self, gateway: str, minimum: Money, chosen: bool, field: str):
        if chosen:
            detail = f"the amount must be at least {minimum.format()} to pay with {gateway}"
        else:
            detail = (f"{gateway} takes payments of at least {minimum.format()}; choose "
                      f"another way to pay")
        super().__init__(detail, field=field)
        self.gateway, self.minimum, self.chosen = gateway, minimum, chosen


def minimum_of(gateway: GatewayDescription | None, currency: str) -> Money:
    """The least ``gateway`` charges in ``currency`` (no money when it declares none).

    Called by the checkout before it records a payment, and by the payment link's page for
    its hint.
    """
    if gateway is None:
        return Money.zero(currency)
    return gateway.minimum_charge.get(currency, Money.zero(currency))


def check(gateway: GatewayDescription | None, charged: Money, amount: str | None,
          items_field: str = "items") -> None:
    """Refuse a checkout whose charge is below what the gateway takes.

    Called by every online checkout once it priced the payment, before anything is written.

    :param charged: what the gateway would be asked to charge (the fee passed on included).
    :param amount: the amount the payer chose (a part payment), if any.
    :param items_field: the request's field naming what is paid when no amount was chosen.
    :raises BelowMinimumCharge: (a 422) naming ``amount``, or ``items_field`` when the payer
        chose the items only, and saying the minimum.
    """
    minimum = minimum_of(gateway, charged.currency)
    if gateway is not None and charged.amount < minimum.amount:
        chosen = amount is not None
        raise BelowMinimumCharge(gateway.display_name, minimum, chosen,
                                 "amount" if chosen else items_field)
