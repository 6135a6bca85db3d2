"""The Acme HTTP API client, filled in."""

from __future__ import annotations

import requests

from loket.plugin_api import CredentialsRejected, GatewayError, Money, RefundNotPossible

DEFAULT_API_BASE = "https://api.acme.invalid"
TIMEOUT = 20


def to_gateway_amount(money: Money) -> str:
    return money.decimal_string()


def from_gateway_amount(value, currency: str) -> Money:
    return Money.parse(str(value), currency)


class Client:
    def __init__(self, config, credentials: dict | None = None):
        self.base = config.options.get("api_base", DEFAULT_API_BASE).rstrip("/")
        self.credentials = credentials if credentials is not None else config.credentials
        self.http = requests.Session()

    def _call(self, method, path, key=None, **body):
        headers = {"authorization": f"Bearer {self.credentials['api_key']}"}
        if key:
            headers["idempotency-key"] = key
        response = self.http.request(method, self.base + path, json=body or None,
                                     headers=headers, timeout=TIMEOUT)
        return response.status_code, response.json()

    def check_credentials(self) -> dict:
        status, body = self._call("GET", "/v1/me")
        if status in (401, 403):
            raise CredentialsRejected("Acme refused the API key", field="api_key",
                                      gateway_message=body["error"]["message"])
        return {"account": body["account"]}

    def create_checkout(self, request):
        status, body = self._call(
            "POST", "/v1/checkouts", key=request.payment_id,
            amount=to_gateway_amount(request.amount), currency=request.amount.currency,
            metadata={"payment_id": request.payment_id})
        if status != 200:
            raise GatewayError("Acme refused the checkout",
                               gateway_message=body["error"]["message"])
        return body["url"], body["id"], body

    def get_payment(self, gateway_reference: str) -> dict:
        status, body = self._call("GET", f"/v1/checkouts/{gateway_reference}")
        if status != 200:
            raise GatewayError("Acme could not find the checkout",
                               gateway_message=body["error"]["message"])
        return body

    def create_refund(self, request):
        status, body = self._call("POST", f"/v1/checkouts/{request.gateway_reference}/refunds",
                                  key=request.refund_id,
                                  amount=to_gateway_amount(request.amount))
        if status != 200:
            raise RefundNotPossible("Acme refused the refund",
                                    gateway_message=body["error"]["message"])
        return body["id"], body["status"], body
