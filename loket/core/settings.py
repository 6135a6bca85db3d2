"""Tenant settings: one JSON document per tenant, validated by JSON Schema.

Invalid settings are refused with the JSON path of each error
(``$.destinations['pay-a-bill']``), as are settings that would only fail later: an address
that is not one, a route to a processor that is not installed, an amount with more decimals
than the tenant's currency has (``"500.00"`` for JPY).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice import tallies
from loket.core.models import Payment, Receivable, Tenant, TenantSettings
from loket.core.settings_money import carried_over, fitted, json_path, money_errors
from loket.core.settings_schema import DEFAULTS, SETTINGS_SCHEMA
from loket.errors import ConfigurationError, NotFound, ValidationFailed
from loket.money import ISO4217_DIGITS, minor_digits, parse_minor
from loket.types import FeeRule

# The formats jsonschema checks without extra packages (``email``, ``date``, ``ipv4``...),
# with a stricter ``email`` (one ``@`` between two parts without spaces): jsonschema's own
# accepts any text holding an ``@``.
_FORMATS = jsonschema.FormatChecker(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")


@_FORMATS.checks("email")
def _is_address(value: object) -> bool:
    """Whether ``value`` reads as an e-mail address (a non-string is the type check's)."""
    return not isinstance(value, str) or _ADDRESS.fullmatch(value) is not None


_VALIDATOR = jsonschema.Draft202012Validator(SETTINGS_SCHEMA, format_checker=_FORMATS)


def validate_settings(document: dict) -> dict:
    """Validate a settings document; return it merged over the defaults.

    Every money setting (:data:`~loket.core.settings_schema.MONEY_SETTINGS`) must be an
    amount in the document's currency: at most its decimals.

    :raises ValidationFailed: with one ``{field, message}`` per error, ``field`` being the
        JSON path of the offending value.
    """
    merged = copy.deepcopy(DEFAULTS)
    for key, value in (document or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "destinations":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    errors = sorted(_VALIDATOR.iter_errors(merged), key=lambda e: list(e.absolute_path))
    if errors:
        raise ValidationFailed(
            "settings are invalid",
            errors=[{"field": e.json_path, "message": e.message} for e in errors],
        )
    money = money_errors(merged)
    if money:
        raise ValidationFailed("settings are invalid", errors=money)
    try:
        ZoneInfo(merged["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {merged['timezone']!r} (an IANA name such as "
                               "Asia/Jakarta)", field="$.timezone") from None
    retry_days = merged["autopay"]["retry_days"]
    if retry_days != sorted(retry_days):
        raise ValidationFailed("autopay.retry_days must be in increasing order",
                               field="$.autopay.retry_days")
    if merged["default_channel"] not in merged["channels"]:
        raise ValidationFailed("default_channel must be one of channels",
                               field="$.default_channel")
    return merged


class Settings:
    """A tenant's validated settings with typed accessors."""

    def __init__(self, document: dict):
        self.document = document

    def __getitem__(self, key):
        if key not in self.document:  # stored before the setting existed
            return copy.deepcopy(DEFAULTS[key])
        return self.document[key]

    @property
    def currency(self) -> str:
        return self.document["currency"]

    def money(self, path: str) -> int | None:
        """The one reader of money settings: the minor units, in the tenant's currency, of
        the setting at ``path`` (``overpayment_threshold``, ``approvals.refund_above``...);
        ``None`` when it is not set and has no default. A value stored before amounts were
        checked on save is read when its extra decimals are zeros (``"500.00"`` in JPY).

        :raises ValidationFailed: naming the setting's JSON path, for a stored value that
            does not fit the currency (``"10.50"`` in JPY: a tenant admin corrects it).
        """
        head, *rest = path.split(".")
        value: Any = self[head] if head in self.document or head in DEFAULTS else None
        for key in rest:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return None
        field = json_path(head, *rest)
        digits = minor_digits(self.currency)
        try:
            return parse_minor(fitted(str(value), digits), self.currency, field=field)
        except ValidationFailed as exc:
            raise ValidationFailed(f"the tenant's setting {exc.detail}: a tenant admin must "
                                   "correct it", field=field) from None

    def route(self, destination: str) -> dict:
        """Return the routing entry for ``destination`` or raise an error naming it."""
        try:
            return self.document["destinations"][destination]
        except KeyError:
            known = ", ".join(sorted(self.document["destinations"]))
            raise ValidationFailed(f"unknown destination {destination!r} (configured: {known})",
                                   field="destination") from None

    def destination_for_processor(self, processor: str) -> str:
        """Return the first destination routed to ``processor``."""
        for name, route in self.document["destinations"].items():
            if route["processor"] == processor:
                return name
        raise ValidationFailed(f"no destination is routed to processor {processor!r}",
                               field="destination")

    def fee_rule(self, destination: str, method: str) -> FeeRule | None:
        """The fee rule for ``method`` on ``destination``, if any."""
        rule = self.route(destination).get("fee", {}).get(method)
        if rule is None:
            return None
        return FeeRule(percent=rule.get("percent", "0"), fixed=rule.get("fixed", "0"),
                       pass_to=tuple(rule.get("pass_to", ())))


def _has_money(session: Session, tenant_id: int) -> bool:
    return any(session.scalar(select(model.id).where(model.tenant_id == tenant_id).limit(1))
               for model in (Receivable, Payment))


def load_settings(session: Session, tenant_id: int) -> Settings:
    """Read a tenant's settings (stored already validated and merged over the defaults).

    Read once per transaction: later calls in the same session return the same object
    (an engine step asks for them several times). Treat it as read-only; a caller building
    a changed document copies it first (:func:`update_settings` does).
    """
    known = session.info.setdefault("settings", {})
    if tenant_id in known:
        return known[tenant_id]
    # The document alone, not the row: a dict of its own (nothing done with the settings
    # can edit a loaded row unnoticed), with no copy to make.
    document = session.connection().execute(_DOCUMENT, {"tenant_id": tenant_id}).scalar()
    if document is None:
        raise NotFound(f"tenant {tenant_id} has no settings")
    known[tenant_id] = Settings(document)
    return known[tenant_id]


_DOCUMENT = select(TenantSettings.document).where(
    TenantSettings.tenant_id == bindparam("tenant_id"))


def remember_settings(session: Session, tenant_id: int, settings: Settings) -> None:
    """Use ``settings``, read moments ago by another transaction of the same request, for
    the rest of this one (a webhook's second transaction): :func:`load_settings` then
    reads nothing. Equivalent to a settings change committing just after, not before."""
    session.info.setdefault("settings", {})[tenant_id] = settings


def pin(session: Session, row: object) -> None:
    """Keep ``row`` in the session's identity map until the session ends, so reading it again
    in the same transaction costs no statement (the map holds rows only while something
    refers to them)."""
    session.info.setdefault("pinned", set()).add(row)


def save_settings(session: Session, tenant_id: int, document: dict) -> Settings:
    """Validate and store a tenant's settings document; returns the merged settings.

    A money setting kept unchanged from the stored document is first rewritten to fit the
    currency when that keeps its value (a currency change: ``"500.00"`` becomes ``"500"``
    for JPY); one that cannot fit is refused like any other.

    :raises ValidationFailed: naming each invalid field by its JSON path.
    """
    row = session.get(TenantSettings, tenant_id)
    merged = validate_settings(carried_over(document, row.document if row else None))
    if row is not None and row.document.get("currency") != merged["currency"] and \
            _has_money(session, tenant_id):
        raise ValidationFailed("the currency cannot change once receivables or payments exist",
                               field="$.currency")
    if row is None or row.document.get("timezone") != merged["timezone"]:
        _check_zone_known(session, merged["timezone"])
    digits = minor_digits(merged["currency"])
    session.info.setdefault("settings", {})[tenant_id] = Settings(copy.deepcopy(merged))
    if row is None:
        session.add(TenantSettings(tenant_id=tenant_id, document=merged, currency_digits=digits))
    else:
        zone_before = row.document.get("timezone")
        row.document = merged
        if row.currency_digits is None or not _has_money(session, tenant_id):
            row.currency_digits = digits
        if zone_before != merged["timezone"]:
            tallies.rebuild(session, tenant_id)  # the payments' local dates moved
    return Settings(merged)


def check_processors(document: dict, installed: Collection[str],
                     before: dict | None = None) -> None:
    """Refuse a route to a processor that is not installed: saved, every checkout through it
    would fail, and so would the application of any payment made to it.

    Called by :func:`update_settings` for the callers that hold the plugins (``PUT
    /v1/settings``, the console's settings form, ``loket settings set``). Only the routes
    ``document`` adds or re-routes compared with ``before`` are checked: a route stored
    before its plugin was removed does not block an unrelated change.

    :param installed: the names of the installed destination processors.
    :raises ValidationFailed: naming ``$.destinations.<name>.processor`` of each such route
        (a processor that is not a name is left to :func:`validate_settings`).
    """
    old = (before or {}).get("destinations") or {}
    errors = [{"field": json_path("destinations", name, "processor"),
               "message": f"processor {route.get('processor')!r} is not installed "
                          f"(installed: {', '.join(sorted(installed)) or 'none'})"}
              for name, route in (document.get("destinations") or {}).items()
              if isinstance(route, dict) and isinstance(route.get("processor"), str)
              and route["processor"] not in installed
              and (old.get(name) or {}).get("processor") != route["processor"]]
    if errors:
        raise ValidationFailed("settings are invalid", errors=errors)


def _check_zone_known(session: Session, zone: str) -> None:
    """PostgreSQL dates the dashboard's tallies in the tenant's zone: refuse a name its time
    zone database lacks (Python's may be newer)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        with session.begin_nested():
            session.execute(text("SELECT now() AT TIME ZONE :zone"), {"zone": zone})
    except DBAPIError:
        raise ValidationFailed(f"time zone {zone!r} is unknown to the database; choose "
                               "another name for the same zone", field="$.timezone") from None


def digit_mismatches(session: Session) -> list[str]:
    """Name each tenant whose stored amounts were written with other currency decimals.

    Every tenant records its currency's ISO 4217 decimals with its settings (before any money
    exists, since the currency cannot change afterwards). If the table loket reads today
    disagrees, every stored amount would be read 10x or 100x off.

    :returns: one sentence per tenant in disagreement (empty when all agree).
    """
    rows = session.execute(select(Tenant.slug, TenantSettings.document,
                                  TenantSettings.currency_digits)
                           .join(TenantSettings, TenantSettings.tenant_id == Tenant.id)).all()
    return [f"tenant {slug!r} stored {doc['currency']} amounts with {stored} decimals, but "
            f"loket's ISO 4217 table now says {ISO4217_DIGITS.get(doc['currency'], 'none')}"
            for slug, doc, stored in rows
            if stored is not None and ISO4217_DIGITS.get(doc["currency"]) != stored]


def check_digits(session: Session) -> None:
    """Refuse to run over money stored with other currency decimals (start-up check).

    Called by the entry points that serve or process payments (``get_app``, ``loket serve``,
    ``loket worker``) before they take any request.

    :raises ConfigurationError: naming each tenant and currency in disagreement.
    """
    problems = digit_mismatches(session)
    if problems:
        raise ConfigurationError("loket refuses to start: " + "; ".join(problems) + ". Restore "
                                 "loket/iso4217.json to the table the amounts were stored with.")


def update_settings(session: Session, actor: audit.Actor, tenant_id: int,
                    changes: dict[str, Any], *,
                    processors: Collection[str] | None = None) -> Settings:
    """Merge ``changes`` over a tenant's settings (top-level keys replace), validate, store
    and audit the whole document before and after.

    Called by ``PUT /v1/settings``, the console's settings form and ``loket settings set``.
    The settings row is locked first, so two admins saving at once each merge over the
    other's change instead of overwriting it.

    :param processors: the installed destination processors' names; when given, a route to
        any other is refused (:func:`check_processors`).
    :raises ValidationFailed: naming each invalid field by its JSON path.
    """
    row = session.scalars(select(TenantSettings).where(TenantSettings.tenant_id == tenant_id)
                          .with_for_update().execution_options(populate_existing=True)
                          ).one_or_none()
    if row is None:
        raise NotFound(f"tenant {tenant_id} has no settings")
    before = copy.deepcopy(row.document)
    document = {**before, **changes}
    if processors is not None:
        check_processors(document, processors, before)
    saved = save_settings(session, tenant_id, document)
    audit.record(session, actor, "settings.updated", "tenant", tenant_id, before=before,
                 after=saved.document, tenant_id=tenant_id)
    return saved
