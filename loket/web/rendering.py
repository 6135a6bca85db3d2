"""The one Jinja2 environment of loket's pages, and money and dates shown the tenant's way."""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, select_autoescape

from loket.money import Money

DEFAULT_LOCALE = "en_US"
# The languages with a catalog, and the locale each stands for when a browser names only
# the language.
LANGUAGES = {"en": "en_US", "id": "id_ID"}


@cache
def translations(locale: str) -> NullTranslations:
    """The gettext catalog for ``locale`` (``loket/web/locale``); English when there is none."""
    directory = str(files("loket.web") / "locale")
    return Translations.load(directory, [locale, locale.split("_")[0]], domain="loket")


@cache
def environment() -> Environment:
    """The shared environment: package templates, autoescaping, gettext, money filters."""
    env = Environment(loader=PackageLoader("loket.web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def render(template: str, locale: str = DEFAULT_LOCALE, timezone: str = "UTC",
           **context: Any) -> str:
    """Render ``template`` for a person who reads ``locale``.

    :param template: a path under ``loket/web/templates`` (``"pay/link.html"``).
    :param locale: the tenant's locale, e.g. ``"id_ID"``; picks the catalog and the formats.
    :param timezone: the tenant's time zone: times are shown as its clocks read them.
    :param context: the template's variables.
    :returns: the HTML text.
    """
    catalog = translations(locale)

    def gettext(message: str, **variables: Any) -> str:
        text = catalog.gettext(message)
        return text % variables if variables else text

    def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
        variables.setdefault("num", n)
        return catalog.ngettext(singular, plural, n) % variables

    return environment().get_template(template).render(
        _=gettext, gettext=gettext, ngettext=ngettext,
        money=lambda value: format_money(value, locale),
        cash=lambda amount, currency: format_money(Money(int(amount or 0), currency), locale),
        date=lambda value: format_day(value, locale, timezone),
        moment=lambda value: format_moment(value, locale, timezone), locale=locale, **context)


def format_money(value: Money, locale: str = DEFAULT_LOCALE) -> str:
    """Money as people of ``locale`` write it (exact: never rounds)."""
    return value.format(locale)


def _local(value: dt.datetime, timezone: str) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
    try:
        return value.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return value


def format_day(value: dt.date | dt.datetime | str | None, locale: str = DEFAULT_LOCALE,
               timezone: str = "UTC") -> str:
    """A date as people of ``locale`` write it (``Apr 15, 2025``, ``15 Apr 2025``); '' for None.
    ISO 8601 text (the API's shapes) is read first: ``2025-03-31`` is that calendar day
    wherever the tenant is; a moment is dated in ``timezone``."""
    if not value:  # None, '' or a template's undefined value
        return ""
    if isinstance(value, str):
        value = (dt.date.fromisoformat(value) if len(value) == 10
                 else dt.datetime.fromisoformat(value))
    if isinstance(value, dt.datetime):
        value = _local(value, timezone).date()
    return format_date(value, format="medium", locale=locale)


def format_moment(value: dt.datetime | None, locale: str = DEFAULT_LOCALE,
                  timezone: str = "UTC") -> str:
    """A date and time as people of ``locale`` write it, on the clocks of ``timezone``; ''
    for None. Naive values (SQLite) are UTC."""
    if not value:  # None, or a template's undefined value
        return ""
    return format_datetime(_local(value, timezone), format="medium", locale=locale)


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The locale to show a person whose browser sends ``accept_language`` (``id-ID,id;q=0.9,
    en;q=0.8``): the first language loket has a catalog for, else ``default``."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip()
        if not tag or tag == "*":
            continue
        try:
            parsed = Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue
        if parsed.language in LANGUAGES:
            if parsed.territory:
                return f"{parsed.language}_{parsed.territory}"
            return LANGUAGES[parsed.language]
    return default
