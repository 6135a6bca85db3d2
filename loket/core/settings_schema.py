"""What a tenant's settings document may hold (its JSON Schema) and the defaults it is merged
over; :mod:`loket.core.settings` validates, stores and reads it."""

from __future__ import annotations

from typing import Any

# What a guest may be asked to prove an account with (see loket.core.guests.identification).
GUEST_FACTS = ("name", "last_bill_amount", "postcode", "email", "phone")
_DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$"}
# An amount in the tenant's currency: besides the pattern, loket.core.settings checks it has
# at most the currency's decimals (MONEY_SETTINGS lists where these are).
_MONEY = {**_DECIMAL, "description": "an amount in the tenant's currency, with at most its "
                                     "decimals (\"500\" fits every currency)"}
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
        "overpayment_threshold": _MONEY,
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
                                "fixed": _MONEY,
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
                "refund_above": _MONEY,
                "credit_note_above": _MONEY,
                "plan_change_above": _MONEY,
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
                "minimum": _MONEY,
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

MONEY_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("overpayment_threshold",),
    ("approvals", "refund_above"),
    ("approvals", "credit_note_above"),
    ("approvals", "plan_change_above"),
    ("part_payments", "minimum"),
    ("destinations", "*", "fee", "*", "fixed"),
)
"""Where the settings hold money (``*``: any key), each checked as an amount in the tenant's
currency when the settings are saved."""

# Money defaults are whole amounts, which fit every currency (JPY has no decimals).
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
    "overpayment_threshold": "500",
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
