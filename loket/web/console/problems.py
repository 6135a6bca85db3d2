"""What a console page says when an action is refused.

loket's errors speak the API's English: field names, developer wording. A page shows each
refused field's message under its input and, at the top, one line in the page's language
("Please correct the marked fields"). The messages loket has the words for (a required
field, not a number, not above zero, too long, at most so much left...) are said again
through the catalog with their amounts written the page's way; any other keeps its English
text, marked as English, after a translated lead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

import attrs
from markupsafe import Markup

from loket.errors import Conflict, GatewayError, LoketError, NotFound
from loket.money import Money, minor_digits
from loket.web import rendering
from loket.web.amounts import AmountNotUnderstood
from loket.web.console.nav import N_

Gettext = Callable[[str], str]
# Pairs of (English wording, catalog message), the first match saying a message.
Sayings = Sequence[tuple[re.Pattern[str], str]]

# (English wording, catalog message): the first that matches a message says it. A group
# named ``amount``, ``due`` or ``threshold`` is money, written again in the page's locale.
SAID: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), message) for pattern, message in (
        (r"^the payer's name is required", N_("Give your name.")),
        (r"\bis required\b|must not be empty|^give the reason",
         N_("This field is required.")),
        (r"is not a decimal number", N_("This is not a number.")),
        (r"must not be negative", N_("The amount must not be negative.")),
        (r"must be more than zero and at most (?P<amount>.+?)\.?$",
         N_("Enter an amount above zero and at most %(amount)s.")),
        (r"must be (?:more|greater) than zero|must be above zero",
         N_("Enter an amount above zero.")),
        (r"at most (?P<amount>.+?) is left", N_("At most %(amount)s is left.")),
        (r"^the payer's name must be at most (?P<count>\d+) characters",
         N_("Your name is too long: at most %(count)s characters.")),
        (r"^the payer's e-mail must be at most (?P<count>\d+) characters",
         N_("Your e-mail is too long: at most %(count)s characters.")),
        (r"^the payer's phone must be at most (?P<count>\d+) characters",
         N_("Your phone number is too long: at most %(count)s characters.")),
        (r"^the payer's e-mail must be one e-mail address",
         N_("Give one e-mail address, such as name@example.com.")),
        (r"(?:must be at most|(?:is|are) limited to) (?P<count>\d+) characters",
         N_("Too long: at most %(count)s characters.")),
        (r"has more than (?P<count>\d+) decimals",
         N_("Too many decimals: at most %(count)s.")),
        (r"' is too large$", N_("This amount is too large.")),
        (r"must be a (?:valid )?date", N_("Enter a date.")),
        (r"must not be in the past", N_("The date must not be in the past.")),
        (r"is chosen twice", N_("An item is chosen twice.")),
        (r"^unknown account", N_("No consumer has this account number.")),
        (r"^no such page$", N_("This page does not exist.")),
        (r"^no payment '?(?P<ref>[^']*)'?$", N_("There is no payment %(ref)s.")),
        (r"^no credit note '?(?P<ref>[^']*)'?$", N_("There is no credit note %(ref)s.")),
        (r"^no payment plan '?(?P<ref>[^']*)'?$", N_("There is no payment plan %(ref)s.")),
        (r"^no payment link '?(?P<ref>[^']*)'?$|^no such payment link$",
         N_("There is no such payment link.")),
        (r"^no dispute '?(?P<ref>[^']*)'?$", N_("There is no dispute %(ref)s.")),
        (r"^no consumer with account number", N_("No consumer has this account number.")),
        (r"is more than the outstanding (?P<due>.+?) plus the overpayment threshold "
         r"(?P<threshold>\S+)",
         N_("This is more than the outstanding %(due)s plus the overpayment threshold "
            "%(threshold)s.")),
        (r"change is given only for cash", N_("Change is given only for cash.")),
        (r"is already paid", N_("Already paid: another payment was recorded for it a "
                                "moment ago.")),
        (r"a minimum applies to partial links only",
         N_("A minimum applies to partial links only.")),
        (r"installments must be from 1 to (?P<count>\d+)",
         N_("From 1 to %(count)s installments.")),
        (r"too (?:small|little is left) for that many installments",
         N_("The amount is too small for that many installments.")),
        (r"down payment must be less than", N_("The down payment must be less than the "
                                               "plan's amount.")),
        (r"must be one of", N_("Choose one of the offered values.")),
        # What a payer meets when paying (a payment link, the guest pages, my bills).
        (r"the amount is more than the (?P<amount>.+?) owed",
         N_("The amount is more than the %(amount)s owed.")),
        (r"part payments are not allowed here; pay the full (?P<amount>.+?)$",
         N_("Part payments are not allowed here; pay the full %(amount)s.")),
        (r"the amount must be at least (?P<amount>.+?)$",
         N_("The amount must be at least %(amount)s.")),
        (r"^choose at least one (?:bill|item)", N_("Choose at least one bill or service to "
                                                   "pay.")),
        (r"^nothing is (?:left to pay|due)", N_("Nothing is left to pay on these items.")),
        (r"is not open for payment$", N_("An item is no longer open for payment.")),
        (r"is paid through a payment plan", N_("An item is paid through a payment plan: pay "
                                               "the plan's installments.")),
        (r"^unknown (?:bill|service|installment|payment plan) '(?P<ref>[^']*)'",
         N_("There is nothing to pay under %(ref)s.")),
        (r"collected by different accounts of this gateway",
         N_("These items are collected by different accounts of this gateway; pay them in "
            "separate payments.")),
        (r"only a lump-sum settlement of its open items is accepted",
         N_("This account takes only a payment of all its open items at once.")),
        (r"^gateway '[^']*' is not available for payments",
         N_("This way to pay is not available now; choose another.")),
        (r"^this payment link has been used", N_("This payment link has been used for a "
                                                 "payment.")),
        (r"^(?:this|the) payment link is (?:expired|cancelled|used)",
         N_("This payment link is no longer open.")),
        (r"^everything this link asks for is paid or being paid",
         N_("Everything this link asks for is paid or being paid.")),
        # A form the page could not take (too large, altered, unreadable) or a failure.
        (r"^the form is (?:too large|larger than)", N_("The form is too large.")),
        (r"^unknown action\b", N_("This form asks for something its page does not offer. "
                                  "Open the form again and use its buttons.")),
        (r"^the form could not be read", N_("The form could not be read. Open the form "
                                            "again and send it once more.")),
        (r"^an unexpected error occurred; it has been logged with request id (?P<ref>\S+)",
         N_("Something unexpected went wrong; it has been logged with request id %(ref)s.")),
    ))
MONEY_GROUPS = ("amount", "due", "threshold")
# A translated lead before a message loket has no words for (by the error's kind).
LEADS: tuple[tuple[type[LoketError], str], ...] = (
    (NotFound, N_("Not found:")),
    (Conflict, N_("Not possible now:")),
    (GatewayError, N_("The gateway refused or failed:")),
)
DEFAULT_LEAD = N_("This could not be done:")
MARKED = N_("Please correct the marked fields.")
# The page titles of an error page, by the error's code.
TITLES = {"not-found": N_("Not found"), "forbidden": N_("Not allowed"),
          "unauthorized": N_("Not signed in"), "conflict": N_("Not possible now"),
          "validation": N_("Invalid input"), "gateway": N_("Gateway error"),
          "gone": N_("No longer available"), "too-large": N_("Too large"),
          "bad-request": N_("Form not understood")}
DEFAULT_TITLE = N_("Something went wrong")


@attrs.frozen
class Problem:
    """A refusal as a page shows it: the line at the top and the messages by input name
    (both safe HTML: an English message is marked ``lang="en"``)."""

    banner: Markup
    fields: Mapping[str, Markup] = attrs.field(factory=dict)


def _written(text: str, currency: str | None, locale: str) -> str:
    """An amount loket wrote in English (``$1,234.50``) written again for ``locale``;
    ``text`` itself when it holds no amount (or its currency is not known)."""
    found = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    if found is None or currency is None:
        return text
    try:
        value = Decimal(found.group(0).replace(",", "")).scaleb(minor_digits(currency))
    except (InvalidOperation, LoketError):
        return text
    if value != value.to_integral_value():
        return text
    return rendering.format_money(Money(int(value), currency), locale)


def translated(message: str, locale: str, currency: str | None,
               table: Sayings | None = None) -> str | None:
    """``message`` (one of loket's English messages) in ``locale`` when loket has the words
    for it (the first match in ``table``, :data:`SAID` when not given), its amounts in
    ``currency`` written the locale's way; else ``None``."""
    _ = rendering.translations(locale).gettext
    for pattern, catalog_message in SAID if table is None else table:
        found = pattern.search(message)
        if found is None:
            continue
        values = {name: _written(value, currency, locale) if name in MONEY_GROUPS else value
                  for name, value in found.groupdict().items()}
        return _(catalog_message) % values if values else _(catalog_message)
    return None


def said(message: str, locale: str, currency: str | None,
         lead: str | None = None, table: Sayings | None = None) -> Markup:
    """``message`` as a page shows it: translated (:func:`translated`, through ``table``),
    or its English text marked as English, after ``lead`` (already translated) when
    given."""
    text = translated(message, locale, currency, table)
    if text is not None:
        return Markup.escape(text)
    if lead:
        return Markup('{} <span lang="en">{}</span>').format(lead, message)
    return Markup('<span lang="en">{}</span>').format(message)


def lead_of(exc: LoketError, gettext: Gettext) -> str:
    """The translated words before an English message of ``exc``."""
    for kind, message in LEADS:
        if isinstance(exc, kind):
            return gettext(message)
    return gettext(DEFAULT_LEAD)


def input_of(field: str | None, inputs: Iterable[str], aliases: Mapping[str, str]) -> str | None:
    """The form input an error's ``field`` belongs to (``items[0].reference`` is
    ``items``, then renamed by ``aliases``), or ``None`` when the form has no such input."""
    if not field:
        return None
    name = re.split(r"[\[.]", field.removeprefix("$."), maxsplit=1)[0]
    name = aliases.get(name, name)
    return name if name in set(inputs) else None


def explain(exc: LoketError, locale: str, currency: str, inputs: Iterable[str] = (),
            aliases: Mapping[str, str] | None = None) -> Problem:
    """What a page says for ``exc``: each error of refused input (422) naming one of the
    form's ``inputs`` under that input and a translated line at the top; the others (and
    any refusal of another kind, such as a state that forbids the action) at the top.

    :param locale: the page's locale (the tenant's).
    :param currency: the currency of the amounts the messages name.
    :param inputs: the names of the inputs of the form that was sent.
    :param aliases: the API's field names the form calls otherwise (``items`` -> ``item``).
    :returns: the :class:`Problem`.
    """
    _ = rendering.translations(locale).gettext
    inputs = tuple(inputs)
    fields: dict[str, Markup] = {}
    rest: list[Markup] = []
    for error in exc.errors or [{"field": None, "message": exc.detail}]:
        message = str(error.get("message") or exc.detail)
        name = input_of(error.get("field"), inputs if exc.status == 422 else (),
                        aliases or {})
        typed = Markup.escape(exc.said(locale)) if isinstance(exc, AmountNotUnderstood) \
            else None  # an amount the page could not read, in the page's words
        if name is None:
            rest.append(typed or said(message, locale, currency, lead_of(exc, _)))
        else:
            text = typed or said(message, locale, currency)
            fields[name] = Markup("{} {}").format(fields[name], text) if name in fields \
                else text
    lines = ([Markup.escape(_(MARKED))] if fields else []) + rest
    return Problem(banner=Markup(" ").join(lines), fields=fields)


def title_of(exc: LoketError, locale: str) -> str:
    """The translated title of an error page for ``exc``."""
    return rendering.translations(locale).gettext(TITLES.get(exc.code, DEFAULT_TITLE))
