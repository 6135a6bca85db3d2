"""Tenant settings: one JSON document per tenant, validated by JSON Schema.

Invalid settings are refused with the JSON path of each error (``$.destinations.pay-a-bill``).
"""

from __future__ import annotations

import copy
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import Payment, Receivable, Tenant, TenantSettings
from loket.errors import ConfigurationError, NotFound, ValidationFailed
from loket.money import ISO4217_DIGITS, minor_digits
from loket.types import FeeRule

# What a guest may be asked to prove an account with (see loket.core.guests.identification).
GUEST_FACTS = ("name", "last_bill_amount", "postcode", "email", "phone")
_DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$"}
_ROLES_RECIPIENTS = {"type": "array", "items": {"type": "string", "format": "email"}}

SETTINGS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["currency", "timezone", "locale"],
    "properties": {
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "timezone": {"type": "string", "minLength": 1},
        "locale": {"type": "string", "pattern": "^[a-z]{2}(_[A-Z]{2})?$"},
        "channels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "default_channel": {"type": "string"},
        "payment_methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "number_formats": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                name: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["format"],
                    "properties": {
                        "format": {"type": "string", "pattern": r"\{seq(:0\d+)?\}"},
                        "start": {"type": "integer", "minimum": 1},
                    },
                }
                for name in ("payment", "transaction", "receipt", "credit_note", "payment_plan")
            },
        },
        "credit_note_expiry_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        # Where payers land after a gateway, instead of loket's own result page (the
        # result is signed: loket.core.payments.returns).
        "return_url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 500},
        "overpayment_threshold": _DECIMAL,
        "notes_max_length": {"type": "integer", "minimum": 1, "maximum": 5000},
        "payment_timeout_minutes": {"type": "integer", "minimum": 5, "maximum": 10080},
        "plan_default_after_misses": {"type": "integer", "minimum": 1},
        "plans": {
            "type": "object",
            "additionalProperties": False,
            "description": "Payment plan compliance: an installment unpaid grace_days after "
                           "its due date is missed; consumers are reminded "
                           "remind_days_before its due date and once it is overdue.",
            "properties": {
                "grace_days": {"type": "integer", "minimum": 0, "maximum": 90},
                "remind_days_before": {"type": "integer", "minimum": 0, "maximum": 60},
            },
        },
        "webhook_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "destinations": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["processor"],
                "properties": {
                    "processor": {"type": "string", "minLength": 1},
                    "processing": {"type": "string", "enum": ["immediate", "deferred"]},
                    "gateway_profiles": {"type": "object", "additionalProperties": {
                        "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"}},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "fee": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "percent": _DECIMAL,
                                "fixed": _DECIMAL,
                                "pass_to": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                    "reconciliation": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "required": {"type": "boolean"},
                            "timeout_days": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            },
        },
        "held_payment_timeout_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "guest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "verify": {"type": "array", "uniqueItems": True, "minItems": 1,
                           "items": {"type": "string", "enum": list(GUEST_FACTS)}},
                "token_minutes": {"type": "integer", "minimum": 1, "maximum": 120},
                "attempts": {"type": "integer", "minimum": 1, "maximum": 1000},
                "window_seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
            },
        },
        "autopay": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "days_before_due": {"type": "integer", "minimum": 0, "maximum": 60},
                "retry_days": {"type": "array", "maxItems": 10, "uniqueItems": True,
                               "items": {"type": "integer", "minimum": 1, "maximum": 60}},
            },
        },
        "notifications": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "tenant_admins": _ROLES_RECIPIENTS,
                "recovery_executives": _ROLES_RECIPIENTS,
                "billing_managers": _ROLES_RECIPIENTS,
                "email_consumers": {"type": "boolean"},
            },
        },
        "approvals": {
            "type": "object",
            "additionalProperties": False,
            "description": "Maker-checker: adjustments above a threshold wait for a second "
                           "person with an approving role.",
            "properties": {
                "refund_above": _DECIMAL,
                "credit_note_above": _DECIMAL,
                "plan_change_above": _DECIMAL,
                "approver_roles": {"type": "array", "minItems": 1, "uniqueItems": True,
                                   "items": {"enum": ["tenant_admin", "cso_admin",
                                                      "billing_manager"]}},
            },
        },
        "documents": {
            "type": "object",
            "additionalProperties": False,
            "description": "What receipts and credit notes (PDF) show in their header.",
            "properties": {
                "address": {"type": "string", "maxLength": 500},
                "logo": {"type": "string", "maxLength": 400000,
                         "contentEncoding": "base64",
                         "description": "a PNG or JPEG image, base64"},
            },
        },
        "part_payments": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "allowed": {"type": "boolean"},
                "minimum": _DECIMAL,
                "minimum_percent": _DECIMAL,
            },
        },
        "messages": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "channels": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": "string", "minLength": 1}}},
                "templates": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"subject": {"type": "string", "maxLength": 200},
                                   "body": {"type": "string", "maxLength": 1600}}}},
            },
        },
        "payment_links": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "expiry_days": {"type": "integer", "minimum": 1, "maximum": 365},
            },
        },
    },
}

DEFAULTS: dict[str, Any] = {
    "currency": "USD",
    "timezone": "UTC",
    "locale": "en_US",
    "channels": ["walk-in", "online", "kiosk", "bank"],
    "default_channel": "walk-in",
    "payment_methods": ["cash", "card", "cheque", "bank_transfer", "online"],
    "number_formats": {
        "payment": {"format": "PAY-{yyyy}-{seq:06}", "start": 1},
        "transaction": {"format": "TXN-{yyyy}-{seq:06}", "start": 1},
        "receipt": {"format": "R-{seq}", "start": 1},
        "credit_note": {"format": "CN-{seq}", "start": 1},
        "payment_plan": {"format": "PP-{yyyy}-{seq:04}", "start": 1},
    },
    "credit_note_expiry_days": 365,
    "overpayment_threshold": "500.00",
    "notes_max_length": 500,
    "payment_timeout_minutes": 60,
    "plan_default_after_misses": 2,
    "plans": {"grace_days": 0, "remind_days_before": 3},
    "webhook_retention_days": 90,
    "destinations": {
        "pay-a-bill": {"processor": "bill", "fields": {"invoice": "reference"},
                       "fee": {"card": {"percent": "0", "fixed": "0", "pass_to": []}},
                       "reconciliation": {"required": True, "timeout_days": 2}},
        "pay-a-service": {"processor": "service", "fields": {"service": "reference"},
                          "reconciliation": {"required": True, "timeout_days": 2}},
        "pay-an-installment": {"processor": "installment", "fields": {"installment": "reference"},
                               "reconciliation": {"required": True, "timeout_days": 2}},
        "pay-a-pay-plan": {"processor": "payplan", "fields": {"plan_id": "plan"},
                           "reconciliation": {"required": True, "timeout_days": 2}},
    },
    "notifications": {"tenant_admins": [], "recovery_executives": [], "billing_managers": [],
                      "email_consumers": True},
    "held_payment_timeout_days": 3,
    "guest": {"enabled": False, "verify": ["name", "last_bill_amount"], "token_minutes": 15,
              "attempts": 5, "window_seconds": 900},
    "autopay": {"days_before_due": 3, "retry_days": [1, 3, 5, 7]},
    "part_payments": {"allowed": False, "minimum": "0", "minimum_percent": "0"},
    "messages": {"channels": {"default": ["email"]}, "templates": {}},
    "payment_links": {"expiry_days": 14},
}


def validate_settings(document: dict) -> dict:
    """Validate a settings document; return it merged over the defaults.

    :raises ValidationFailed: with one ``{field, message}`` per error, ``field`` being the
        JSON path of the offending value.
    """
    merged = copy.deepcopy(DEFAULTS)
    for key, value in (document or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "destinations":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    validator = jsonschema.Draft202012Validator(SETTINGS_SCHEMA)
    errors = sorted(validator.iter_errors(merged), key=lambda e: list(e.absolute_path))
    if errors:
        raise ValidationFailed(
            "settings are invalid",
            errors=[{"field": e.json_path, "message": e.message} for e in errors],
        )
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
    """Read a tenant's settings (stored already validated and merged over the defaults)."""
    row = session.get(TenantSettings, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id} has no settings")
    pin(session, row)
    # A copy: a caller editing the document in place must not edit the pinned row's.
    return Settings(copy.deepcopy(row.document))


def pin(session: Session, row: object) -> None:
    """Keep ``row`` in the session's identity map until the session ends, so reading it again
    in the same transaction costs no statement (the map holds rows only while something
    refers to them)."""
    session.info.setdefault("pinned", set()).add(row)


def save_settings(session: Session, tenant_id: int, document: dict) -> Settings:
    """Validate and store a tenant's settings document; returns the merged settings."""
    merged = validate_settings(document)
    row = session.get(TenantSettings, tenant_id)
    if row is not None and row.document.get("currency") != merged["currency"] and \
            _has_money(session, tenant_id):
        raise ValidationFailed("the currency cannot change once receivables or payments exist",
                               field="$.currency")
    digits = minor_digits(merged["currency"])
    if row is None:
        session.add(TenantSettings(tenant_id=tenant_id, document=merged, currency_digits=digits))
    else:
        row.document = merged
        if row.currency_digits is None or not _has_money(session, tenant_id):
            row.currency_digits = digits
    return Settings(merged)


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
                    changes: dict[str, Any]) -> Settings:
    """Merge ``changes`` over a tenant's settings (top-level keys replace), validate, store
    and audit the whole document before and after.

    Called by ``PUT /v1/settings`` and ``loket settings set``.

    :raises ValidationFailed: naming each invalid field by its JSON path.
    """
    before = load_settings(session, tenant_id).document
    saved = save_settings(session, tenant_id, {**before, **changes})
    audit.record(session, actor, "settings.updated", "tenant", tenant_id, before=before,
                 after=saved.document, tenant_id=tenant_id)
    return saved
