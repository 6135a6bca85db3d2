"""The DOKU emulator's HTTP API: each request's headers and signature checked, then the
checkout, refund and check-status endpoints and the payment page. A mixin of
:class:`~loket_doku.testing.emulator.DokuEmulator`."""

from __future__ import annotations

import datetime as dt
import hmac
import itertools
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from loket_doku.testing.emulator_wire import (
    CHECKOUT_PATH,
    PAGE_PREFIX,
    REFUND_PATH,
    STATUS_PREFIX,
    TIMESTAMP_FORMAT,
    WIB,
    Refused,
    api_error,
    doku_signature,
    utc_now,
    utc_stamp,
)


class ApiMixin:
    """The endpoints loket calls (see the module docstring)."""

    url: str
    merchants: dict[str, str]
    card_enabled: bool
    orders: dict[str, dict]
    replays: dict[tuple, tuple[int, bytes, str]]
    log: list[dict]
    refund_script: list[dict]
    _lock: threading.RLock
    _counter: itertools.count

    status_body: Callable[[str], dict]  # PayerMixin's

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        extra_headers: dict[str, str] = {}
        try:
            if method == "GET" and path.startswith(PAGE_PREFIX):
                return self._page(handler, path[len(PAGE_PREFIX):])
            client_id = self._authenticate(method, path, headers, body)
            with self._lock:
                status, payload = self._route(method, path, client_id, headers, body)
            extra_headers = self._response_headers(client_id, headers, path, payload, method)
        except Refused as refused:
            status, payload = refused.status, json.dumps(refused.body).encode()
        self.log.append({"method": method, "path": path, "headers": headers, "body": body,
                         "status": status})
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in extra_headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _authenticate(self, method: str, path: str, headers: dict, body: bytes) -> str:
        for name in ("client-id", "request-id", "request-timestamp", "signature"):
            if not headers.get(name):
                raise Refused(400, api_error("invalid_header", f"Missing header {name.title()}"))
        if not TIMESTAMP_FORMAT.match(headers["request-timestamp"]):
            raise Refused(400, api_error("invalid_header", "Invalid Request-Timestamp format"))
        secret = self.merchants.get(headers["client-id"])
        if secret is None:
            raise Refused(400, api_error("invalid_client_id", "Invalid Client-Id"))
        expected = doku_signature(secret, headers["client-id"], headers["request-id"],
                                  headers["request-timestamp"], path,
                                  body if method == "POST" else None)
        if not hmac.compare_digest(expected, headers["signature"]):
            raise Refused(400, api_error("invalid_signature", "Invalid Header Signature"))
        return headers["client-id"]

    def _response_headers(self, client_id: str, headers: dict, path: str, payload: bytes,
                          method: str) -> dict:
        stamp = utc_stamp()
        return {"Client-Id": client_id, "Request-Id": headers["request-id"],
                "Response-Timestamp": stamp,
                "Signature": doku_signature(self.merchants[client_id], client_id,
                                            headers["request-id"], stamp, path,
                                            payload if method == "POST" else None,
                                            timestamp_name="Response-Timestamp")}

    def _route(self, method, path, client_id, headers, body) -> tuple[int, bytes]:
        if method == "POST" and path == CHECKOUT_PATH:
            return self._idempotent(client_id, path, headers["request-id"], body,
                                    self._create_order)
        if method == "POST" and path == REFUND_PATH:
            return self._idempotent(client_id, path, headers["request-id"], body, self._refund)
        if method == "GET" and path.startswith(STATUS_PREFIX):
            key = unquote(path[len(STATUS_PREFIX):])
            order = self.orders.get(key) or next(
                (o for o in self.orders.values() if o["request_id"] == key), None)
            if order is None or order["client_id"] != client_id:
                raise Refused(404, api_error("not_found", "Transaction not found"))
            return 200, json.dumps(self.status_body(order["invoice"])).encode()
        raise Refused(404, api_error("not_found", f"No route {method} {path}"))

    def _idempotent(self, client_id, path, request_id, body, action) -> tuple[int, bytes]:
        try:
            data = json.loads(body)
        except ValueError:
            raise Refused(400, api_error("invalid_parameter", "Body is not JSON")) from None
        # DOKU replays only the same Request-Id with the same body.
        fingerprint = json.dumps(data, sort_keys=True)
        key = (client_id, path, request_id)
        if key in self.replays:
            status, original, seen = self.replays[key]
            if seen != fingerprint:
                raise Refused(409, api_error("duplicate_request_id",
                                           "Request-Id was already used for another request"))
            return 409, original
        status, answer = action(client_id, request_id, data)
        payload = json.dumps(answer).encode()
        if status == 200:
            self.replays[key] = (status, payload, fingerprint)
        return status, payload


    def _create_order(self, client_id: str, request_id: str, data: dict) -> tuple[int, dict]:
        order, payment = data.get("order") or {}, data.get("payment") or {}
        invoice, amount = order.get("invoice_number"), order.get("amount")
        limit = 30 if self.card_enabled else 64
        if not isinstance(invoice, str) or not 0 < len(invoice) <= limit:
            raise Refused(400, api_error("invalid_parameter",
                                       f"order.invoice_number is required, max {limit} chars"))
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 10**12:
            raise Refused(400, api_error("invalid_parameter",
                                       "order.amount must be a whole number of rupiah"))
        if order.get("currency", "IDR") != "IDR":
            raise Refused(400, api_error("invalid_parameter", "order.currency must be IDR"))
        due = payment.get("payment_due_date", 60)
        if not isinstance(due, int) or not 0 < due <= 999999:
            raise Refused(400, api_error("invalid_parameter",
                                       "payment.payment_due_date must be 1-999999 minutes"))
        items = order.get("line_items")
        if items is not None and sum(i["price"] * i["quantity"] for i in items) != amount:
            raise Refused(400, api_error("invalid_parameter",
                                       "order.amount does not match the line items"))
        if invoice in self.orders:
            raise Refused(400, api_error("invalid_parameter", "order.invoice_number already used"))
        token = secrets.token_hex(12)
        created = utc_now()
        expires = created + dt.timedelta(minutes=due)
        methods = payment.get("payment_method_types") or [
            "VIRTUAL_ACCOUNT_BCA", "VIRTUAL_ACCOUNT_BANK_MANDIRI", "ONLINE_TO_OFFLINE_ALFA"
        ] + (["CREDIT_CARD"] if self.card_enabled else [])
        self.orders[invoice] = {
            "invoice": invoice, "client_id": client_id, "request_id": request_id,
            "amount": amount, "status": "PENDING", "token": token, "created": created,
            "expires": expires, "request": data, "channel": {}, "refunded": 0, "refunds": [],
            "paid_at": None, "retry_allowed": order.get("disable_retry_payment") is not True,
            "notify_url": (data.get("additional_info") or {}).get("override_notification_url"),
        }
        return 200, {
            "message": ["SUCCESS"],
            "response": {
                "order": {"amount": str(amount), "invoice_number": invoice, "currency": "IDR",
                          "session_id": order.get("session_id") or secrets.token_hex(8)},
                "payment": {"payment_method_types": methods, "payment_due_date": due,
                            "token_id": token, "url": f"{self.url}{PAGE_PREFIX}{token}",
                            "expired_date": expires.astimezone(WIB).strftime("%Y%m%d%H%M%S")},
                "uuid": next(self._counter),
                "headers": {"request_id": request_id, "client_id": client_id,
                            "date": utc_stamp(created)},
            },
        }

    def _refund(self, client_id: str, request_id: str, data: dict) -> tuple[int, dict]:
        invoice = (data.get("order") or {}).get("invoice_number")
        order = self.orders.get(invoice)
        if order is None or order["client_id"] != client_id:
            raise Refused(404, api_error("not_found", "Transaction not found"))
        if (data.get("payment") or {}).get("original_request_id") != order["request_id"]:
            raise Refused(400, api_error("invalid_parameter",
                                       "payment.original_request_id does not match"))
        if order["channel"].get("service") != "CREDIT_CARD":
            raise Refused(400, api_error("refund_not_supported",
                                       "Refund is only available for card transactions"))
        if order["status"] not in ("SUCCESS", "REFUNDED"):
            raise Refused(400, api_error("invalid_status", "Transaction is not paid"))
        amount = (data.get("refund") or {}).get("amount")
        remaining = order["amount"] - order["refunded"]
        if not isinstance(amount, int) or not 0 < amount <= remaining:
            raise Refused(400, api_error("invalid_parameter",
                                       f"refund.amount must be 1-{remaining}"))
        if self.refund_script:
            scripted = self.refund_script.pop(0)
            refund = {"amount": amount, "date": utc_stamp(), **scripted}
            return 200, {"order": {"invoice_number": invoice, "amount": order["amount"]},
                         "payment": {"original_request_id": order["request_id"]},
                         "refund": {k: v for k, v in refund.items() if v is not None}}
        order["refunded"] += amount
        refund_id = f"RF-{next(self._counter):06d}"
        order["refunds"].append({"id": refund_id, "amount": amount, "request_id": request_id})
        if order["refunded"] == order["amount"]:
            order["status"] = "REFUNDED"
        return 200, {
            "order": {"invoice_number": invoice, "amount": order["amount"]},
            "payment": {"original_request_id": order["request_id"]},
            "refund": {"id": refund_id, "amount": amount, "status": "SUCCESS",
                       "date": utc_stamp()},
            "transaction": {"status": "SUCCESS", "type": "REFUND", "date": utc_stamp()},
        }

    def _page(self, handler: BaseHTTPRequestHandler, token: str) -> None:
        order = next((o for o in self.orders.values() if o["token"] == token), None)
        status = 200 if order else 404
        text = (f"<html><body><h1>DOKU Checkout (emulator)</h1><p>Invoice {order['invoice']}"
                f"</p><p>Rp {order['amount']:,}</p><p>Status {order['status']}</p></body></html>"
                if order else "<html><body>Unknown checkout</body></html>")
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
