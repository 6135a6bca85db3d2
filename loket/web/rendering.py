"""The one Jinja2 environment of loket's pages, and money and dates shown the tenant's way."""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib.resources import files
from typing import Any

from babel.dates import format_date
from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, select_autoescape

from loket.money import Money

DEFAULT_LOCALE = "en_US"


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


def render(template: str, locale: str = DEFAULT_LOCALE, **context: Any) -> str:
    """Render ``template`` for a person who reads ``locale``.

    :param template: a path under ``loket/web/templates`` (``"pay/link.html"``).
    :param locale: the tenant's locale, e.g. ``"id_ID"``; picks the catalog and the formats.
    :param context: the template's variables.
    :returns: the HTML text.
    """
    catalog = translations(locale)
    return environment().get_template(template).render(
        _=catalog.gettext, gettext=catalog.gettext, ngettext=catalog.ngettext,
        money=lambda value: format_money(value, locale),
        date=lambda value: format_day(value, locale), locale=locale, **context)


def format_money(value: Money, locale: str = DEFAULT_LOCALE) -> str:
    """Money as people of ``locale`` write it (exact: never rounds)."""
    return value.format(locale)


def format_day(value: dt.date | dt.datetime | None, locale: str = DEFAULT_LOCALE) -> str:
    """A date as people of ``locale`` write it (``Apr 15, 2025``, ``15 Apr 2025``); '' for None."""
    return "" if value is None else format_date(value, format="medium", locale=locale)
