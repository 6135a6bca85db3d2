"""The built-in sandbox gateway: a real gateway plugin for demos and tests.

Its hosted checkout page is served by loket itself (``/sandbox/checkout/{reference}``) with
the buttons *Pay*, *Decline (insufficient funds)*, *Network error* and *Cancel*. Like a real
gateway it keeps its own records (a small SQLite file, ``options["state_path"]`` or
``{var_dir}/sandbox-gateway.sqlite3``), then sends the payment's webhook to loket signed with
the configuration's secret (header ``Sandbox-Signature: t=<unix>,v1=<hex hmac>``) and
redirects the payer back. Settlement comes from ``loket sandbox settle``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets

from loket.gateways import sandbox_mandates, sandbox_report
from loket.gateways import sandbox_store as store
from loket.gateways.sandbox_mandates import (  # noqa: F401 - the mandate hooks (1.2)
    loket_gateway_mandate_charge,
    loket_gateway_mandate_revoke,
    loket_gateway_mandate_setup,
    loket_gateway_parse_mandate_events,
)
from loket.gateways.sandbox_rules import (  # noqa: F401 - KIND and the header are the gateway's
    KIND,
    OUTCOMES,
    SIGNATURE_HEADER,
    TOLERANCE_SECONDS,
    settlement_fee,
    sign,
    signing_key,
    verify_signature,
)
from loket.plugin_api import (
    CONTRACT_VERSION,
    EVENT_EXPIRED,
    EVENT_FAILED,
    EVENT_IGNORED,
    EVENT_PENDING,
    EVENT_REFUNDED,
    EVENT_SETTLED,
    EVENT_SUCCEEDED,
    CheckoutSession,
    CredentialsRejected,
    GatewayDescription,
    GatewayError,
    GatewayEvent,
    Money,
    RefundNotPossible,
    RefundResult,
    SettlementLine,
    StatusMapping,
    hookimpl,
)

LOKET_CONTRACT = CONTRACT_VERSION
SECRET_PATTERN = r"^sbx_[A-Za-z0-9]{16,64}$"

CREDENTIAL_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["merchant_name", "secret"],
    "additionalProperties": False,
    "properties": {
        "merchant_name": {"type": "string", "minLength": 1, "maxLength": 100,
                          "title": "Merchant name"},
        "secret": {"type": "string", "pattern": SECRET_PATTERN, "title": "Signing secret",
                   "description": "sbx_ followed by 16-64 letters or digits"},
    },
}

# raw status -> (loket state, webhook status, settlement status)
STATUS_TABLE = {
    "open": StatusMapping("initiated", "Not Confirmed", "N/A"),
    "paid": StatusMapping("succeeded", "In Settlement", "In Progress"),
    "declined": StatusMapping("failed", "Failed", "N/A"),
    "network_error": StatusMapping("failed", "Failed", "N/A"),
    "cancelled": StatusMapping("failed", "Failed", "N/A"),
    "expired": StatusMapping("failed", "Failed", "N/A"),
    "refunded": StatusMapping("refunded", "Refunded", "(keep)"),
    "settled": StatusMapping("completed", "Settled", "Success"),
}

def _mine(config) -> bool:
    return config.kind == KIND


@hookimpl(trylast=True)
def loket_gateway_describe():
    """Describe the sandbox gateway (any currency, two- and zero-decimal)."""
    return GatewayDescription(
        kind=KIND, display_name="Sandbox (test gateway)", credential_schema=CREDENTIAL_SCHEMA,
        secret_fields=("secret",), logo_url="/sandbox/logo.svg", currencies=(),
        methods=("card",), statuses=tuple(STATUS_TABLE), mandates=True)


@hookimpl(trylast=True)
def loket_gateway_validate_credentials(config, credentials):
    """Check the format, then the "live" check: a secret containing ``revoked`` is refused
    the way a real gateway refuses a revoked key."""
    if not _mine(config):
        return None
    errors = []
    if not str(credentials.get("merchant_name") or "").strip():
        errors.append({"field": "merchant_name", "message": "merchant name is required"})
    if not re.match(SECRET_PATTERN, str(credentials.get("secret") or "")):
        errors.append({"field": "secret", "message": "the secret must be sbx_ followed by "
                                                     "16-64 letters or digits"})
    if errors:
        raise CredentialsRejected("Please review all the details entered above and retry to "
                                  "connect", errors=errors)
    if "revoked" in credentials["secret"]:
        raise CredentialsRejected(
            "Please review all the details entered above and retry to connect",
            gateway_message="Invalid API key: this secret has been revoked",
            gateway_code="revoked_key", errors=[{"field": "secret",
                                                 "message": "the gateway refused this secret"}])
    return {"merchant_name": credentials["merchant_name"].strip(),
            "secret": credentials["secret"]}


@hookimpl(trylast=True)
def loket_gateway_handshake(config):
    """A live check of the stored secret."""
    if not _mine(config):
        return None
    if "revoked" in config.credentials.get("secret", ""):
        raise GatewayError("the sandbox refused the stored secret",
                           gateway_message="Invalid API key: this secret has been revoked")
    return {"merchant_name": config.credentials.get("merchant_name")}


@hookimpl(trylast=True)
def loket_gateway_prepare_data(config, request):
    """What the sandbox "vendor" wants beside the amount: the payer as the bill names them,
    and the tax fields a destination's prepare passed on (``extra``)."""
    if not _mine(config):
        return None
    data = {"payer_name": request.customer.name, "account_number": request.customer.account_number}
    data.update({k: str(v) for k, v in request.extra.items() if k != "external_payment_data"})
    return data


@hookimpl(trylast=True)
def loket_gateway_charge(config, request):
    """Record the checkout (idempotent on the payment id) and return the hosted page URL."""
    if not _mine(config):
        return None
    db = store.open_store(config)
    items = json.dumps([{"description": i.description, "reference": i.reference,
                         "period": i.period, "amount": i.amount.amount} for i in request.items])
    existing = store.find_by_payment(db, config.id, request.payment_id)
    if existing is not None and (existing["amount"], existing["items"]) != (
            request.amount.amount, items):
        # The number was first taken by an attempt whose transaction died with its process
        # (numbers are gapless, so the next payment takes it again): that checkout was never
        # shown to anyone, and this payment must not inherit its amount.
        if existing["status"] != "open":
            raise GatewayError(f"payment {request.payment_id} already has a {existing['status']}"
                               f" checkout for other items", field="payment_id")
        store.forget_checkout(db, existing["reference"])
        existing = None
    reference = existing["reference"] if existing else f"sbx_cs_{secrets.token_hex(12)}"
    if existing is None:
        store.insert_checkout(db, {
            "reference": reference, "config_id": config.id, "payment_id": request.payment_id,
            "amount": request.amount.amount, "currency": request.amount.currency,
            "items": items,
            "return_url": request.return_url, "cancel_url": request.cancel_url,
            "webhook_url": config.webhook_url, "secret": signing_key(config.credentials["secret"]),
            "status": "open", "refunded": 0, "expires_at": request.expires_at.isoformat(),
        })
    base = config.options.get("loket_base_url", "http://127.0.0.1:8000").rstrip("/")
    url = f"{base}/sandbox/checkout/{reference}"
    return CheckoutSession(redirect_url=url, gateway_reference=reference,
                           raw={"id": reference, "url": url, "amount": request.amount.amount,
                                "currency": request.amount.currency, "status": "open"})


@hookimpl(trylast=True)
def loket_gateway_parse_webhook(config, request):
    """Verify the signature and normalize the sandbox's event."""
    if not _mine(config):
        return None
    verify_signature(config.credentials.get("secret", ""), request.headers.get(SIGNATURE_HEADER),
            request.body)
    data = json.loads(request.body)
    if str(data.get("type", "")).startswith("mandate."):
        return [GatewayEvent(event_id=data["id"], type=EVENT_IGNORED)]
    return [_event(data)]


def _event(data: dict) -> GatewayEvent:
    amount = Money(int(data["amount"]), data["currency"]) if "amount" in data else None
    known = {EVENT_SUCCEEDED, EVENT_FAILED, EVENT_EXPIRED, EVENT_REFUNDED, EVENT_SETTLED,
             EVENT_PENDING}
    return GatewayEvent(
        event_id=data["id"], type=data["type"] if data["type"] in known else EVENT_IGNORED,
        raw_status=data.get("status", ""), payment_id=data.get("payment_id"),
        gateway_reference=data.get("reference"), amount=amount,
        failure_message=data.get("failure_message"), failure_code=data.get("failure_code"),
        failure_category=data.get("failure_category"),
        refund_reference=data.get("refund_reference"),
        payout_reference=data.get("payout_reference"),
        details={k: data[k] for k in ("fee", "net", "channel") if k in data})


@hookimpl(trylast=True)
def loket_gateway_map_status(config, raw_status):
    """Translate a sandbox status word (see ``STATUS_TABLE``)."""
    if not _mine(config):
        return None
    return STATUS_TABLE.get(raw_status, StatusMapping(None, "Unknown", "N/A"))


@hookimpl(trylast=True)
def loket_gateway_fetch_status(config, payment_id, gateway_reference):
    """Report what the sandbox knows of a checkout."""
    if not _mine(config):
        return None
    db = store.open_store(config)
    row = store.find(db, gateway_reference) if gateway_reference else None
    row = row or store.find_by_payment(db, config.id, payment_id)
    if row is None:
        raise GatewayError(f"the sandbox has no checkout for payment {payment_id}")
    status = row["status"]
    kind = {"paid": EVENT_SUCCEEDED, "settled": EVENT_SUCCEEDED, "refunded": EVENT_SUCCEEDED,
            "open": EVENT_PENDING, "expired": EVENT_EXPIRED}.get(status, EVENT_FAILED)
    outcome = next((o for o in OUTCOMES.values() if o[0] == status), None)
    return GatewayEvent(
        event_id=f"status:{row['reference']}:{status}", type=kind, raw_status=status,
        payment_id=row["payment_id"], gateway_reference=row["reference"],
        amount=Money(row["amount"], row["currency"]),
        failure_message=outcome[4] if outcome and kind == EVENT_FAILED else None,
        failure_code=outcome[3] if outcome and kind == EVENT_FAILED else None,
        failure_category=outcome[2] if outcome and kind == EVENT_FAILED else None)


@hookimpl(trylast=True)
def loket_gateway_refund(config, request):
    """Refund a paid checkout, at most what was paid and not yet refunded (idempotent on
    the refund id within the configuration, as a gateway's keys are within one merchant
    account: another tenant's refund of the same number is a refund of its own)."""
    if not _mine(config):
        return None
    db = store.open_store(config)
    row = store.find(db, request.gateway_reference)
    if row is None or row["status"] not in ("paid", "settled", "refunded"):
        raise RefundNotPossible("the sandbox has no paid checkout to refund",
                                gateway_message="No such charge")
    refund_key = f"{config.id}:{request.refund_id}"
    done = store.find_refund(db, refund_key)
    legacy = store.find_refund(db, request.refund_id)  # recorded before keys had the config
    if done is None and legacy is not None and legacy["checkout"] == row["reference"]:
        done = legacy
    if done is not None:
        return RefundResult(refund_reference=done["reference"], status="succeeded",
                            raw=dict(done))
    if request.amount.amount <= 0 or request.amount.amount > row["amount"] - row["refunded"]:
        raise RefundNotPossible(
            f"a refund of {request.amount} is more than the "
            f"{Money(row['amount'] - row['refunded'], row['currency'])} "
            f"left to refund", gateway_message="Refund amount exceeds the charge")
    reference = f"sbx_re_{secrets.token_hex(8)}"
    store.add_refund(db, refund_key, reference, row["reference"], request.amount.amount)
    return RefundResult(refund_reference=reference, status="succeeded",
                        raw={"id": reference, "amount": request.amount.amount})


@hookimpl(trylast=True)
def loket_gateway_fetch_settlements(config, since, until):
    """Settled checkouts in ``[since, until)`` (fee: 2.9 % + 30 minor units, like cards)."""
    if not _mine(config):
        return None
    db = store.open_store(config)
    lines = []
    for row in store.settled_between(db, config.id, since.isoformat(), until.isoformat()):
        amount = Money(row["amount"], row["currency"])
        fee = Money(settlement_fee(row["amount"]), row["currency"])
        lines.append(SettlementLine(
            gateway_reference=row["reference"], amount=amount, fee=fee, net=amount - fee,
            settled_at=dt.datetime.fromisoformat(row["settled_at"]),
            payment_id=row["payment_id"], payout_reference=row["payout_reference"]))
    return lines


@hookimpl(trylast=True)
def loket_gateway_parse_settlement_report(config, content, filename):
    """The sandbox's CSV settlement report (``loket sandbox report`` writes one), lazily."""
    if not _mine(config):
        return None
    return sandbox_report.parse_report(content)


@hookimpl(trylast=True)
def loket_register_routes():
    """Serve the hosted checkout page."""
    from loket.gateways.sandbox_page import SandboxCheckoutPage, SandboxLogo
    return [("/sandbox/checkout/{reference}", SandboxCheckoutPage()),
            ("/sandbox/mandate/{reference}", sandbox_mandates.SandboxMandatePage()),
            ("/sandbox/logo.svg", SandboxLogo())]

