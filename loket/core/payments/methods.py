"""Which payment method a checkout is made with.

The method prices the fee passed on to the payer (the tenant's fee rules are per method),
so it must be one the gateway offers: a method no fee rule names would charge no fee.
"""

from __future__ import annotations

from loket.errors import ValidationFailed
from loket.types import GatewayDescription

DEFAULT = "card"
"""What every entry point that lets the payer choose no method asks for."""


def method_for(gateway: GatewayDescription | None, method: str, agreed: bool) -> str:
    """The method a checkout through ``gateway`` is made (and its fee priced) with.

    Called by the checkout before it prices the payment.

    :param method: what the caller asked for; :data:`DEFAULT` when the payer chose none.
    :param agreed: a bank debit under the account's agreement: it runs as asked, whatever
        the gateway lists.
    :returns: ``method`` when the gateway offers it (or lists nothing); the gateway's first
        method when ``method`` is :data:`DEFAULT` and the gateway does not offer it.
    :raises ValidationFailed: naming ``method``, for any other method the gateway does not
        offer.
    """
    offered = gateway.methods if gateway is not None else ()
    if not offered or method in offered or agreed:
        return method
    if method == DEFAULT:
        return offered[0]
    raise ValidationFailed(f"method must be one of {', '.join(offered)} (what "
                           f"{gateway.display_name if gateway else 'the gateway'} offers)",
                           field="method")
