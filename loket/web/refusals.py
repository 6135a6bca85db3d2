"""What a payer's page says when a checkout is refused, in the payer's language.

loket's errors speak English (the API's words); the refusals a payer meets on a page and
can act on are said again here through the catalog (the console's sayings,
:data:`loket.web.console.problems.SAID`), their money formatted for the page's locale. A
gateway's failure keeps its own words.
"""

from __future__ import annotations

from loket.core.payments.minimum_charge import BelowMinimumCharge
from loket.errors import GatewayError, LoketError
from loket.web import rendering
from loket.web.amounts import AmountNotUnderstood
from loket.web.console import problems


def refusal(exc: LoketError, locale: str, currency: str | None = None) -> str:
    """The sentence a payer's page (a payment link, guest payment, the consumer's bills)
    shows for ``exc`` in ``locale``: an amount below the gateway's minimum charge, or a
    typed amount the page could not read (naming the field), in the payer's words; any
    other refusal loket has the words for said again in ``locale``, its amounts in
    ``currency`` written the locale's way; the rest (a gateway's failure) in its own words,
    marked as English when it is loket's.
    """
    if isinstance(exc, AmountNotUnderstood):
        return exc.said(locale)
    if isinstance(exc, GatewayError):
        return exc.detail
    if not isinstance(exc, BelowMinimumCharge):
        return problems.said(exc.detail, locale, currency)
    _ = rendering.translations(locale).gettext
    values = {"minimum": rendering.format_money(exc.minimum, locale), "gateway": exc.gateway}
    if exc.chosen:
        return _("The amount must be at least %(minimum)s to pay with %(gateway)s.") % values
    return _("%(gateway)s takes payments of at least %(minimum)s; choose another way to "
             "pay.") % values
