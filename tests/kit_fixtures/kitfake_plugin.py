"""FakePay: a complete, small gateway plugin used to test the conformance kit itself.

``FakePay(bugs={...})`` can break the contract on purpose in the ways listed in ``BUGS``, so
the kit's tests can check that each break is caught with a message that says what to fix.
:func:`fake_harness` is the body of a ``loket_gateway_harness`` fixture for it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json

import attrs
import kitfake_emulator as emulator_module
import requests
from jsonschema import Draft202012Validator
from kitfake_emulator import FakeGateway

from loket.plugin_api import (
    CheckoutSession,
    CredentialsRejected,
    GatewayConfig,
    GatewayDescription,
    GatewayError,
    GatewayEvent,
    Money,
    RefundNotPossible,
    RefundResult,
    StatusMapping,
    WebhookRejected,
    WebhookRequest,
    hookimpl,
)
from loket.testing import GatewayHarness

KIND = "kitfake"
BUGS = (
    "invalid_schema", "secret_not_in_schema", "accepts_bad_credentials", "relative_redirect",
    "not_idempotent", "amount_off_by_one", "no_signature_check", "unmapped_status",
    "refund_over_allowed", "answers_other_kinds", "fetch_says_pending", "minimum_100x",
)
SCHEMA = {
    "type": "object",
    "properties": {"api_key": {"type": "string", "pattern": "^fk_"},
                   "webhook_secret": {"type": "string", "minLength": 4}},
    "required": ["api_key", "webhook_secret"],
    "additionalProperties": False,
}
STATUSES = {
    "open": StatusMapping("initiated", "Pending", "N/A"),
    "paid": StatusMapping("succeeded", "In Settlement", "In Progress"),
    "declined": StatusMapping("failed", "Failed", "N/A"),
    "expired": StatusMapping("failed", "Expired", "N/A"),
    "refunded": StatusMapping("refunded", "Refund", "(keep)"),
}
EVENT_TYPES = {"paid": "payment.succeeded", "declined": "payment.failed",
               "expired": "payment.expired", "open": "payment.pending",
               "refunded": "payment.succeeded"}


class FakePay:
    """The plugin object; register it with ``Plugins(extra=(FakePay(),))``."""

    LOKET_CONTRACT = "1.0"

    def __init__(self, bugs=frozenset()):
        unknown = set(bugs) - set(BUGS)
        assert not unknown, unknown
        self.bugs = frozenset(bugs)

    def _mine(self, config) -> bool:
        return "answers_other_kinds" in self.bugs or config.kind == KIND

    def _call(self, config, method, path, key=None, **body):
        base = config.options.get("api_base", "https://api.fakepay.invalid")
        headers = {"authorization": f"Bearer {config.credentials['api_key']}"}
        if key:
            headers["idempotency-key"] = key
        response = requests.request(method, base + path, json=body or None, headers=headers,
                                    timeout=5)
        return response.status_code, response.json()

    @hookimpl
    def loket_gateway_describe(self):
        schema = dict(SCHEMA)
        if "invalid_schema" in self.bugs:
            schema["type"] = "dictionary"
        statuses = tuple(STATUSES) + (("on_hold",) if "unmapped_status" in self.bugs else ())
        secrets = ("api_key", "signing_key" if "secret_not_in_schema" in self.bugs
                   else "webhook_secret")
        minimums = {"USD": Money(50, "USD"), "JPY": Money(50, "JPY")}
        if "minimum_100x" in self.bugs:  # cents written where euros were meant
            minimums["EUR"] = Money.parse("5000", "EUR")
        return GatewayDescription(
            kind=KIND, display_name="FakePay", credential_schema=schema,
            secret_fields=secrets, currencies=("USD", "JPY", "EUR"), methods=("card",),
            statuses=statuses, minimum_charge=minimums)

    @hookimpl
    def loket_gateway_validate_credentials(self, config, credentials):
        if not self._mine(config):
            return None
        errors = []
        for error in Draft202012Validator(SCHEMA).iter_errors(credentials):
            fields = ([f for f in error.validator_value if f not in error.instance]
                      if error.validator == "required" else [".".join(map(str, error.path))])
            errors += [{"field": field, "message": error.message} for field in fields]
        if errors:
            raise CredentialsRejected("the credentials are incomplete or malformed",
                                      errors=errors)
        if "accepts_bad_credentials" in self.bugs:
            return dict(credentials)
        status, body = self._call(attrs.evolve(config, credentials=credentials), "GET", "/v1/me")
        if status == 401:
            raise CredentialsRejected("FakePay refused the API key; copy it again from the "
                                      "FakePay dashboard", field="api_key",
                                      gateway_message=body["error"]["message"])
        return dict(credentials)

    @hookimpl
    def loket_gateway_handshake(self, config):
        if not self._mine(config):
            return None
        status, body = self._call(config, "GET", "/v1/me")
        if status == 401:
            raise GatewayError("FakePay refused the stored API key",
                               gateway_message=body["error"]["message"])
        return {"kind": KIND}

    @hookimpl
    def loket_gateway_charge(self, config, request):
        if not self._mine(config):
            return None
        key = None if "not_idempotent" in self.bugs else request.payment_id
        status, body = self._call(config, "POST", "/v1/checkouts", key=key,
                                  amount=request.amount.decimal_string(),
                                  currency=request.amount.currency,
                                  metadata={"payment_id": request.payment_id})
        if status != 200:
            raise GatewayError("FakePay refused the checkout",
                               gateway_message=body["error"]["message"])
        url = body["url"]
        if "relative_redirect" in self.bugs:
            url = "/pay/" + body["id"]
        return CheckoutSession(redirect_url=url, gateway_reference=body["id"])

    def _event(self, event_id, status, data) -> GatewayEvent:
        amount = Money.parse(data["amount"], data["currency"])
        if "amount_off_by_one" in self.bugs:
            amount = Money(amount.amount + 1, amount.currency)
        failure = data.get("failure") or {}
        return GatewayEvent(
            event_id=event_id, type=EVENT_TYPES[status], raw_status=status,
            payment_id=data["metadata"].get("payment_id"), gateway_reference=data["id"],
            amount=amount, failure_message=failure.get("message"),
            failure_code=failure.get("code"),
            failure_category="declined" if failure else None)

    @hookimpl
    def loket_gateway_parse_webhook(self, config, request):
        if not self._mine(config):
            return None
        expected = emulator_module.sign(request.body, config.credentials["webhook_secret"])
        given = request.headers.get("x-fake-signature", "")
        if "no_signature_check" not in self.bugs and not hmac.compare_digest(expected, given):
            raise WebhookRejected("FakePay signature does not match")
        payload = json.loads(request.body)
        data = payload["data"]
        if payload["type"] == "refund.succeeded":
            return [GatewayEvent(
                event_id=payload["id"], type="payment.refunded", raw_status="refunded",
                payment_id=data["metadata"].get("payment_id"),
                gateway_reference=data["checkout"], refund_reference=data["id"],
                amount=Money.parse(data["amount"], data["currency"]))]
        return [self._event(payload["id"], data["status"], data)]

    @hookimpl
    def loket_gateway_map_status(self, config, raw_status):
        if not self._mine(config):
            return None
        return STATUSES[raw_status]

    @hookimpl
    def loket_gateway_fetch_status(self, config, payment_id, gateway_reference):
        if not self._mine(config):
            return None
        status, body = self._call(config, "GET", f"/v1/checkouts/{gateway_reference}")
        if status != 200:
            raise GatewayError("FakePay could not say", gateway_message=body["error"]["message"])
        state = "open" if "fetch_says_pending" in self.bugs else body["status"]
        return self._event(f"poll:{body['id']}:{state}", state, body)

    @hookimpl
    def loket_gateway_refund(self, config, request):
        if not self._mine(config):
            return None
        if request.amount > request.captured and "refund_over_allowed" not in self.bugs:
            raise RefundNotPossible(f"cannot refund {request.amount}: only "
                                    f"{request.captured} was paid")
        status, body = self._call(config, "POST",
                                  f"/v1/checkouts/{request.gateway_reference}/refunds",
                                  key=request.refund_id, amount=request.amount.decimal_string())
        if status != 200:
            if "refund_over_allowed" in self.bugs:
                return RefundResult(refund_reference="re_unknown", status="succeeded")
            raise RefundNotPossible("FakePay refused the refund",
                                    gateway_message=body["error"]["message"])
        return RefundResult(refund_reference=body["id"], status=body["status"], raw=body)


class FakeHarness(GatewayHarness):
    """Drives :class:`FakeGateway` for the kit."""

    kind = KIND

    def __init__(self, emulator: FakeGateway, plugin: FakePay):
        self.emulator = emulator
        self.extra_plugins = (plugin,)

    def make_config(self, currency):
        return GatewayConfig(
            id=1, tenant_id=1, kind=KIND, currency=currency,
            credentials={"api_key": emulator_module.API_KEY,
                         "webhook_secret": emulator_module.WEBHOOK_SECRET},
            webhook_url="https://loket.example/webhooks/gw/abc123",
            webhook_path="/webhooks/gw/abc123", options={"api_base": self.emulator.url})

    def bad_credentials(self):
        return {"api_key": "fk_live_revoked", "webhook_secret": "whsec_fake"}

    def _request(self, webhook):
        body, headers = webhook
        return WebhookRequest(body=body, headers=headers, path="/webhooks/gw/abc123",
                              received_at=dt.datetime.now(dt.UTC))

    def payer_acts(self, config, session, outcome):
        act = {"pay": self.emulator.pay, "decline": self.emulator.decline,
               "abandon": self.emulator.abandon}[outcome]
        return self._request(act(session.gateway_reference))

    def refund_webhook(self, config, session, refund):
        return self._request(self.emulator.refund_webhook(refund.refund_reference))


def fake_harness(bugs=()):
    """Fixture body: start the emulator, yield a :class:`FakeHarness`, stop the emulator."""
    emulator = FakeGateway()
    try:
        yield FakeHarness(emulator, FakePay(bugs))
    finally:
        emulator.stop()
