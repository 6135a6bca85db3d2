"""What a payer's page says when a checkout is refused, in the payer's language.

loket's errors speak English (the API's words); the refusals a payer meets on a page and
can act on are said again here through the catalog, their money formatted for the page's
locale.
"""

from __future__ import annotations

from loket.core.payments.minimum_charge import BelowMinimumCharge
from loket.errors import LoketError
from loket.web import rendering
from loket.web.amounts import AmountNotUnderstood


def refusal(exc: LoketError, locale: str) -> str:
    """The sentence a payer's page (a payment link, guest payment, the consumer's bills)
    shows for ``exc`` in ``locale``: an amount below the gateway's minimum charge, or a
    typed amount the page could not read (naming the field), in the payer's words; any
    other refusal's own detail.
    """
    if isinstance(exc, AmountNotUnderstood):
        return exc.said(locale)
    if not isinstance(exc, BelowMinimumCharge):
        return exc.detail
    _ = rendering.translations(locale).gettext
    values = {"minimum": rendering.format_money(exc.minimum, locale), "gateway": exc.gateway}
    if exc.chosen:
        return _("The amount must be at least %(minimum)s to pay with %(gateway)s.") % values
    return _("%(gateway)s takes payments of at least %(minimum)s; choose another way to "
             "pay.") % values
