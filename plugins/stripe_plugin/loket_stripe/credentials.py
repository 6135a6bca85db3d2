"""Stripe credentials: the form's JSON Schema and the field-by-field format checks.

The live check (a call to Stripe with the key) is in :mod:`loket_stripe.plugin`; this module
only looks at the strings, so it needs no network.
"""

from __future__ import annotations

import re

from loket.plugin_api import CredentialsRejected

REVIEW = "Please review all the details entered above and retry to connect"

_KEY_BODY = r"[0-9A-Za-z_]{16,247}"
PATTERNS = {
    "secret_key": rf"^sk_(test|live)_{_KEY_BODY}$",
    "restricted_key": rf"^rk_(test|live)_{_KEY_BODY}$",
    "publishable_key": rf"^pk_(test|live)_{_KEY_BODY}$",
    "webhook_secret": r"^whsec_[0-9A-Za-z+/=_]{16,}$",
}
LABELS = {
    "secret_key": "Secret key",
    "restricted_key": "Restricted key",
    "publishable_key": "Publishable key",
    "webhook_secret": "Webhook signing secret",
}
EXAMPLES = {
    "secret_key": "sk_live_… or sk_test_…",
    "restricted_key": "rk_live_… or rk_test_…",
    "publishable_key": "pk_live_… or pk_test_…",
    "webhook_secret": "whsec_…",
}
REQUIRED = ("secret_key", "publishable_key", "webhook_secret")
SECRET_FIELDS = ("secret_key", "restricted_key", "webhook_secret")

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Stripe credentials",
    "type": "object",
    "additionalProperties": False,
    "required": list(REQUIRED),
    "properties": {
        name: {
            "type": "string",
            "title": LABELS[name],
            "pattern": PATTERNS[name],
            "description": (
                f"Starts with {EXAMPLES[name]}" + (
                    " (optional: when given, loket calls Stripe with it instead of the "
                    "secret key)" if name == "restricted_key" else "")),
            **({"writeOnly": True} if name in SECRET_FIELDS else {}),
        }
        for name in ("secret_key", "restricted_key", "publishable_key", "webhook_secret")
    },
}


def mode_of(key: str) -> str:
    """``"live"`` or ``"test"`` for a Stripe API key."""
    return "live" if key.split("_", 2)[1] == "live" else "test"


def check_format(credentials: dict) -> dict:
    """Check every field's format and that live and test keys are not mixed.

    Called before any network call. Surrounding whitespace is dropped and an empty optional
    restricted key is left out.

    :param credentials: the fields as entered (strings).
    :returns: the normalized credentials.
    :raises CredentialsRejected: naming each wrong field with its own message.
    """
    values = {k: str(v).strip() for k, v in (credentials or {}).items() if v is not None}
    if not values.get("restricted_key"):
        values.pop("restricted_key", None)
    errors = []
    for name in values:
        if name not in PATTERNS:
            errors.append({"field": name, "message": f"'{name}' is not a Stripe credential"})
    for name in ("secret_key", "restricted_key", "publishable_key", "webhook_secret"):
        value = values.get(name)
        if not value:
            if name in REQUIRED:
                errors.append({"field": name, "message": f"{LABELS[name]} is required"})
            continue
        if not re.match(PATTERNS[name], value):
            errors.append({"field": name, "message":
                           f"{LABELS[name]} must look like {EXAMPLES[name]}"})
    errors.extend(_mixed_modes(values, {e["field"] for e in errors}))
    if errors:
        raise CredentialsRejected(REVIEW, errors=errors)
    return values


def _mixed_modes(values: dict, bad: set) -> list[dict]:
    keys = [n for n in ("secret_key", "restricted_key", "publishable_key")
            if values.get(n) and n not in bad]
    if "secret_key" not in keys:
        return []
    mode = mode_of(values["secret_key"])
    return [{"field": name, "message": f"{LABELS[name]} is a {mode_of(values[name])} key "
                                       f"but the secret key is a {mode} key: live and test "
                                       "keys cannot be mixed"}
            for name in keys[1:] if mode_of(values[name]) != mode]
