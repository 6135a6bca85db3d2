"""A local emulator of Xendit's Invoices API, for tests and for trying the plugin by hand.

What it keeps of Xendit's behaviour: Basic authentication with the secret key; invoices
created by ``POST /v2/invoices`` (whole rupiah, an ``external_id`` that Xendit does *not*
keep unique: the plugin looks it up first), read by id or listed by ``external_id``;
callbacks authenticated by a fixed ``x-callback-token`` header, sent when an invoice is
paid or expires, never for a declined attempt (the invoice stays ``PENDING``); refunds
answered at once (``SUCCEEDED``) with no refund callback.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from loket.plugin_api import Emulator, EmulatorRequest, Reply, dumps

SECRET_KEY = "xnd_development_kit0123456789"
CALLBACK_TOKEN = "cb_token_kit_0123456789abcdef"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class XenditEmulator(Emulator):
    """Xendit's invoice endpoints on loopback; :meth:`pay`, :meth:`decline` and
    :meth:`abandon` act as the payer and return the callback Xendit sends (or ``None``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.invoices: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.route("GET", "/balance", self._balance)
        self.route("POST", "/v2/invoices", self._create)
        self.route("GET", "/v2/invoices", self._list)
        self.route("GET", "/v2/invoices/{id}", self._get)
        self.route("POST", "/refunds", self._refund)
        self.route("GET", "/web/{id}", self._page)

    def _authorized(self, request: EmulatorRequest) -> bool:
        expected = base64.b64encode(f"{SECRET_KEY}:".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _guard(self, request: EmulatorRequest) -> Reply | None:
        if not self._authorized(request):
            return 401, {"error_code": "INVALID_API_KEY", "message": "API key is invalid"}
        return None

    def _balance(self, request: EmulatorRequest) -> Reply:
        return self._guard(request) or (200, {"balance": 1000000})

    def _create(self, request: EmulatorRequest) -> Reply:
        if (refused := self._guard(request)) is not None:
            return refused
        body = request.json()
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 10000:
            return 400, {"error_code": "API_VALIDATION_ERROR",
                         "message": "amount must be a whole number of rupiah, at least 10000"}
        invoice_id = f"inv_{next(self._ids):06d}"
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(
            body.get("invoice_duration", 86400)))
        invoice = {
            "id": invoice_id, "external_id": body["external_id"], "status": "PENDING",
            "amount": amount, "currency": body.get("currency", "IDR"),
            "description": body.get("description", ""), "created": _now(),
            "invoice_url": f"{self.url}/web/{invoice_id}",
            "expiry_date": expiry.isoformat(timespec="seconds"),
        }
        self.invoices[invoice_id] = invoice
        return 200, invoice

    def _list(self, request: EmulatorRequest) -> Reply:
        if (refused := self._guard(request)) is not None:
            return refused
        wanted = request.query.get("external_id")
        return 200, [i for i in self.invoices.values() if i["external_id"] == wanted]

    def _get(self, request: EmulatorRequest) -> Reply:
        if (refused := self._guard(request)) is not None:
            return refused
        invoice = self.invoices.get(request.params["id"])
        if invoice is None:
            return 404, {"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "not found"}
        return 200, invoice

    def _refund(self, request: EmulatorRequest) -> Reply:
        if (refused := self._guard(request)) is not None:
            return refused
        body = request.json()
        invoice = self.invoices.get(str(body.get("invoice_id")))
        if invoice is None or invoice["status"] not in ("PAID", "SETTLED"):
            return 400, {"error_code": "INVALID_PAYMENT_STATUS", "message": "not paid"}
        refunded = sum(r["amount"] for r in self.refunds.values()
                       if r["invoice_id"] == invoice["id"])
        if Decimal(body["amount"]) + refunded > invoice["amount"]:
            return 400, {"error_code": "REFUND_AMOUNT_EXCEEDED",
                         "message": "The refund amount exceeds the paid amount"}
        key = request.headers.get("idempotency-key") or body.get("reference_id")
        for refund in self.refunds.values():
            if refund["reference_id"] == key:
                return 200, refund
        refund = {"id": f"rfd_{next(self._ids):06d}", "invoice_id": invoice["id"],
                  "reference_id": key, "amount": body["amount"], "status": "SUCCEEDED"}
        self.refunds[refund["id"]] = refund
        return 200, refund

    def _page(self, request: EmulatorRequest) -> Reply:
        invoice = self.invoices.get(request.params["id"])
        if invoice is None:
            return 404, "<p>No such invoice</p>"
        return 200, f"<h1>Pay IDR {invoice['amount']:,}</h1><p>{invoice['status']}</p>"

    # -- the payer (each returns the callback Xendit sends: (body, headers), or None) -----

    def _callback(self, invoice: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = {k: invoice[k] for k in ("id", "external_id", "status", "amount", "currency")}
        if invoice["status"] == "PAID":
            body.update(paid_amount=invoice["amount"], paid_at=invoice["paid_at"],
                        payment_method="BANK_TRANSFER", payment_channel="BCA")
        return dumps(body), {"x-callback-token": CALLBACK_TOKEN,
                             "content-type": "application/json"}

    def credentials(self) -> dict[str, str]:
        """The credentials this emulator accepts."""
        return {"secret_key": SECRET_KEY, "callback_token": CALLBACK_TOKEN}

    def pay(self, invoice_id: str) -> tuple[bytes, dict[str, str]]:
        """The payer pays the invoice."""
        with self.lock:
            invoice = self.invoices[invoice_id]
            invoice.update(status="PAID", paid_at=_now())
            return self._callback(invoice)

    def decline(self, invoice_id: str) -> None:
        """A payment attempt fails: the invoice stays PENDING and Xendit sends nothing."""
        with self.lock:
            self.invoices[invoice_id]["last_attempt"] = "DECLINED"

    def abandon(self, invoice_id: str) -> tuple[bytes, dict[str, str]]:
        """The invoice expires unpaid."""
        with self.lock:
            invoice = self.invoices[invoice_id]
            invoice["status"] = "EXPIRED"
            return self._callback(invoice)
