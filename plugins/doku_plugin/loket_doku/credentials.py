"""DOKU credentials: the form's JSON Schema, format checks field by field, the live check.

Which credential does what:

* ``client_id`` + ``secret_key`` sign every Checkout / check-status / refund call and every
  notification DOKU sends (Dashboard > Integration > API Keys).
* ``mall_id``, ``shared_key``, ``chain_merchant_id`` are the merchant's legacy DOKU
  (OCO / Hosted) identifiers. The Checkout API does not use them; loket keeps them with the
  configuration so staff can match DOKU back-office reports and legacy settlement files.
"""

from __future__ import annotations

import re
import secrets

from loket.plugin_api import CredentialsRejected, GatewayConfig
from loket_doku.api import DokuClient, DokuHTTPError, is_auth_refusal

ENVIRONMENTS = ("sandbox", "production")
SECRET_FIELDS = ("shared_key", "secret_key")

_RULES: dict[str, tuple[re.Pattern, str]] = {
    "mall_id": (re.compile(r"^[0-9]{8}$"),
                "Mall ID must be exactly 8 digits (e.g. 10896632)"),
    "shared_key": (re.compile(r"^[A-Za-z0-9]{4,64}$"),
                   "Shared Key must be 4 to 64 letters or digits, without spaces or symbols"),
    "chain_merchant_id": (re.compile(r"^(?:[0-9]{1,20}|NA)$"),
                          "Chain Merchant ID must be numeric (or NA when the Mall ID has no "
                          "chain)"),
    "client_id": (re.compile(r"^(?:BRN|MCH)-[0-9]{4}-[0-9]{6,20}$"),
                  "Client ID must look like BRN-0239-1736742088036 or MCH-0001-10791114622547 "
                  "(Dashboard > Integration > API Keys)"),
    "secret_key": (re.compile(r"^[A-Za-z0-9_-]{8,128}$"),
                   "Secret Key must be 8 to 128 letters, digits, '-' or '_' (copy it from "
                   "Dashboard > Integration > API Keys)"),
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "DOKU credentials",
    "type": "object",
    "additionalProperties": False,
    "required": ["mall_id", "shared_key", "chain_merchant_id", "client_id", "secret_key",
                 "environment"],
    "properties": {
        "mall_id": {"type": "string", "title": "Mall ID", "pattern": r"^[0-9]{8}$"},
        "shared_key": {"type": "string", "title": "Shared Key", "pattern": r"^[A-Za-z0-9]{4,64}$",
                       "writeOnly": True},
        "chain_merchant_id": {"type": "string", "title": "Chain Merchant ID",
                              "pattern": r"^(?:[0-9]{1,20}|NA)$"},
        "client_id": {"type": "string", "title": "Client ID (API Key)",
                      "pattern": r"^(?:BRN|MCH)-[0-9]{4}-[0-9]{6,20}$"},
        "secret_key": {"type": "string", "title": "Secret Key",
                       "pattern": r"^[A-Za-z0-9_-]{8,128}$", "writeOnly": True},
        "environment": {"type": "string", "title": "Environment", "enum": list(ENVIRONMENTS),
                        "default": "sandbox"},
    },
}


def normalize(raw: dict) -> dict:
    """Trim whitespace and lower-case the environment; unknown keys are dropped."""
    clean = {key: str(raw.get(key) or "").strip() for key in SCHEMA["properties"]}
    clean["environment"] = (clean["environment"] or "sandbox").lower()
    return clean


def format_errors(creds: dict) -> list[dict]:
    """Return one ``{field, message}`` per malformed field (empty when all are well-formed)."""
    errors = []
    for field, (pattern, message) in _RULES.items():
        value = creds.get(field, "")
        if not value:
            errors.append({"field": field, "message": f"{SCHEMA['properties'][field]['title']} "
                                                      "is required"})
        elif not pattern.match(value):
            errors.append({"field": field, "message": message})
    if creds.get("environment") not in ENVIRONMENTS:
        errors.append({"field": "environment",
                       "message": "Environment must be 'sandbox' or 'production'"})
    return errors


def live_check(config: GatewayConfig, creds: dict) -> dict:
    """Prove the Client ID and Secret Key with one signed, read-only DOKU call.

    The call is a check-status GET for an invoice number that cannot exist
    (``LOKET-CHECK-<random>``): DOKU verifies the signature before looking the invoice
    up, so "not found" proves the keys while creating nothing. A refusal that names the
    signature or the client (or HTTP 401/403) means the keys are wrong.

    :returns: facts for the admin (environment, client id, base URL).
    :raises CredentialsRejected: DOKU refused the keys (its message kept verbatim).
    :raises GatewayError: DOKU could not be reached or failed (5xx).
    """
    client = DokuClient.for_config(config, creds)
    probe = f"LOKET-CHECK-{secrets.token_hex(6).upper()}"
    try:
        client.check_status(probe, request_id=f"loket-check-{secrets.token_hex(8)}")
    except DokuHTTPError as exc:
        if is_auth_refusal(exc):
            raise CredentialsRejected(
                "DOKU refused the Client ID / Secret Key: check both in Dashboard > "
                "Integration > API Keys and the environment (sandbox or production)",
                errors=[{"field": "client_id", "message": "refused by DOKU"},
                        {"field": "secret_key", "message": "refused by DOKU"}],
                gateway_message=exc.gateway_message, gateway_code=exc.gateway_code,
            ) from exc
        if exc.http_status >= 500:
            raise
    return {"environment": creds["environment"], "client_id": creds["client_id"],
            "api_base": client.base}


def validate(config: GatewayConfig, raw: dict) -> dict:
    """Check format, currency and then the live call; return the credentials to store.

    :raises CredentialsRejected: with one error per bad field, or DOKU's refusal.
    """
    creds = normalize(raw)
    errors = format_errors(creds)
    if config.currency and config.currency.upper() != "IDR":
        errors.append({"field": "currency",
                       "message": f"DOKU Checkout charges in IDR only, not {config.currency}"})
    if errors:
        raise CredentialsRejected("Some DOKU credentials are not valid", errors=errors)
    live_check(config, creds)
    return creds
