"""A local emulator of DOKU's non-SNAP Checkout API, for tests (stdlib + requests; openpyxl
only for the XLSX settlement report).

Start it on a free loopback port, point a configuration's ``options["api_base"]`` at
``emulator.url`` and drive the payer from Python::

    with DokuEmulator() as doku:
        ...                                   # loket charges: POST /checkout/v1/payment
        doku.pay_va("PAY-1")                   # the payer pays by virtual account
        doku.deliver("PAY-1", "http://127.0.0.1:8000/hooks/doku/abc")   # signed notification

What it does like DOKU (see the plugin README for which points are documented by DOKU and
which are the emulator's best guess):

* every request must carry Client-Id, Request-Id, Request-Timestamp and Signature; the
  signature is checked with the recipe DOKU documents (Digest of the raw body for POST, no
  Digest for GET). A wrong one is refused with HTTP 400 and
  ``{"error": {"code": "invalid_signature", "message": "Invalid Header Signature", ...}}``.
* ``POST /checkout/v1/payment`` validates the order (whole-rupiah amount, invoice length,
  due date, line items adding up), keeps it, and answers with a payment page URL
  (``GET /checkout/link/<token>`` serves it). A repeated Request-Id gets HTTP 409 and the
  original body.
* ``GET /orders/v1/status/<invoice or request id>`` answers like a notification body.
* a failed attempt (``decline_card``) leaves the checkout open for another attempt unless
  it was created with ``order.disable_retry_payment: true`` (then FAILED is final).
* ``POST /cancellation/credit-card/refund`` refunds card payments (partial, repeated, never
  beyond the amount); other channels are refused; :meth:`script_refund` makes the next
  refund answer another status (e.g. the acquirer's FAILED).
* notifications are signed with Request-Target = the path of the URL they are sent to, and
  can be retried (3 retries, DOKU's schedule), duplicated and re-sent out of order.
* :meth:`settlement_report_csv` / :meth:`settlement_report_xlsx` write a settlement report
  for paid orders.

Orders are kept by invoice number. loket's invoice is ``<scope tag>-<payment number>``, so
the payer's methods, :meth:`notification`, :meth:`deliver`, the reports and ``orders[...]``
also take the payment number alone when just one order's invoice ends with it.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

DEFAULT_CLIENT_ID = "BRN-0001-1700000000001"
DEFAULT_SECRET_KEY = "SK-emulatorSecretKey0001"
CHECKOUT_PATH = "/checkout/v1/payment"
STATUS_PREFIX = "/orders/v1/status/"
REFUND_PATH = "/cancellation/credit-card/refund"
PAGE_PREFIX = "/checkout/link/"
RETRY_SCHEDULE = ("+30m", "+6h", "+12h")  # DOKU's retries after a failed delivery
WIB = dt.timezone(dt.timedelta(hours=7))
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# -- the signature, written out independently of the plugin ------------------------------

def doku_signature(secret: str, client_id: str, request_id: str, timestamp: str, target: str,
                   body: bytes | None, timestamp_name: str = "Request-Timestamp") -> str:
    """DOKU's ``HMACSHA256=`` signature over the header components (Digest only with a body)."""
    parts = [f"Client-Id:{client_id}", f"Request-Id:{request_id}",
             f"{timestamp_name}:{timestamp}", f"Request-Target:{target}"]
    if body is not None:
        parts.append("Digest:" + base64.b64encode(hashlib.sha256(body).digest()).decode())
    mac = hmac.new(secret.encode(), "\n".join(parts).encode(), hashlib.sha256).digest()
    return "HMACSHA256=" + base64.b64encode(mac).decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(moment: dt.datetime | None = None) -> str:
    return (moment or _now()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "type": "invalid_request_error"}}


class _Orders(dict):
    """Orders by invoice; ``orders[number]`` also finds the one order whose invoice is
    ``<tag>-<number>`` (``get`` and ``in`` stay exact, as DOKU's API is)."""

    def __missing__(self, key: str) -> dict:
        found = [o for invoice, o in self.items() if invoice.endswith(f"-{key}")]
        if len(found) != 1:
            raise KeyError(key)
        return found[0]


class _Refused(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


class DokuEmulator:
    """The emulator: start it, use ``url``, drive payers, deliver notifications, ``stop()``.

    :param client_id: the merchant Client ID it knows (more with :meth:`add_merchant`).
    :param secret_key: that merchant's Secret Key.
    :param card_enabled: the Credit Card channel is active (invoice numbers then max 30).
    """

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID,
                 secret_key: str = DEFAULT_SECRET_KEY, *, card_enabled: bool = True):
        self.client_id, self.secret_key = client_id, secret_key
        self.merchants = {client_id: secret_key}
        self.card_enabled = card_enabled
        self.orders: dict[str, dict] = _Orders()
        self.replays: dict[tuple, tuple[int, bytes, tuple]] = {}
        self.log: list[dict] = []          # every API request received
        self.deliveries: list[dict] = []   # every notification sent
        self.default_notification_url: str | None = None
        self.refund_script: list[dict] = []  # scripted answers for the next refunds
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> DokuEmulator:
        """Listen on 127.0.0.1 on a free port; ``self.url`` is then the API base URL."""
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                emulator._handle(self, "GET")

            def do_POST(self):  # noqa: N802
                emulator._handle(self, "POST")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DokuEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_merchant(self, client_id: str, secret_key: str) -> None:
        """Make another Client ID / Secret Key pair valid."""
        self.merchants[client_id] = secret_key

    # -- HTTP ------------------------------------------------------------------------

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
        except _Refused as refused:
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
                raise _Refused(400, _error("invalid_header", f"Missing header {name.title()}"))
        if not _TIMESTAMP.match(headers["request-timestamp"]):
            raise _Refused(400, _error("invalid_header", "Invalid Request-Timestamp format"))
        secret = self.merchants.get(headers["client-id"])
        if secret is None:
            raise _Refused(400, _error("invalid_client_id", "Invalid Client-Id"))
        expected = doku_signature(secret, headers["client-id"], headers["request-id"],
                                  headers["request-timestamp"], path,
                                  body if method == "POST" else None)
        if not hmac.compare_digest(expected, headers["signature"]):
            raise _Refused(400, _error("invalid_signature", "Invalid Header Signature"))
        return headers["client-id"]

    def _response_headers(self, client_id: str, headers: dict, path: str, payload: bytes,
                          method: str) -> dict:
        stamp = _stamp()
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
                raise _Refused(404, _error("not_found", "Transaction not found"))
            return 200, json.dumps(self.status_body(order["invoice"])).encode()
        raise _Refused(404, _error("not_found", f"No route {method} {path}"))

    def _idempotent(self, client_id, path, request_id, body, action) -> tuple[int, bytes]:
        try:
            data = json.loads(body)
        except ValueError:
            raise _Refused(400, _error("invalid_parameter", "Body is not JSON")) from None
        # DOKU replays only the same Request-Id with the same body.
        fingerprint = json.dumps(data, sort_keys=True)
        key = (client_id, path, request_id)
        if key in self.replays:
            status, original, seen = self.replays[key]
            if seen != fingerprint:
                raise _Refused(409, _error("duplicate_request_id",
                                           "Request-Id was already used for another request"))
            return 409, original
        status, answer = action(client_id, request_id, data)
        payload = json.dumps(answer).encode()
        if status == 200:
            self.replays[key] = (status, payload, fingerprint)
        return status, payload

    # -- API behaviour ---------------------------------------------------------------

    def _create_order(self, client_id: str, request_id: str, data: dict) -> tuple[int, dict]:
        order, payment = data.get("order") or {}, data.get("payment") or {}
        invoice, amount = order.get("invoice_number"), order.get("amount")
        limit = 30 if self.card_enabled else 64
        if not isinstance(invoice, str) or not 0 < len(invoice) <= limit:
            raise _Refused(400, _error("invalid_parameter",
                                       f"order.invoice_number is required, max {limit} chars"))
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 10**12:
            raise _Refused(400, _error("invalid_parameter",
                                       "order.amount must be a whole number of rupiah"))
        if order.get("currency", "IDR") != "IDR":
            raise _Refused(400, _error("invalid_parameter", "order.currency must be IDR"))
        due = payment.get("payment_due_date", 60)
        if not isinstance(due, int) or not 0 < due <= 999999:
            raise _Refused(400, _error("invalid_parameter",
                                       "payment.payment_due_date must be 1-999999 minutes"))
        items = order.get("line_items")
        if items is not None and sum(i["price"] * i["quantity"] for i in items) != amount:
            raise _Refused(400, _error("invalid_parameter",
                                       "order.amount does not match the line items"))
        if invoice in self.orders:
            raise _Refused(400, _error("invalid_parameter", "order.invoice_number already used"))
        token = secrets.token_hex(12)
        created = _now()
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
                            "date": _stamp(created)},
            },
        }

    def _refund(self, client_id: str, request_id: str, data: dict) -> tuple[int, dict]:
        invoice = (data.get("order") or {}).get("invoice_number")
        order = self.orders.get(invoice)
        if order is None or order["client_id"] != client_id:
            raise _Refused(404, _error("not_found", "Transaction not found"))
        if (data.get("payment") or {}).get("original_request_id") != order["request_id"]:
            raise _Refused(400, _error("invalid_parameter",
                                       "payment.original_request_id does not match"))
        if order["channel"].get("service") != "CREDIT_CARD":
            raise _Refused(400, _error("refund_not_supported",
                                       "Refund is only available for card transactions"))
        if order["status"] not in ("SUCCESS", "REFUNDED"):
            raise _Refused(400, _error("invalid_status", "Transaction is not paid"))
        amount = (data.get("refund") or {}).get("amount")
        remaining = order["amount"] - order["refunded"]
        if not isinstance(amount, int) or not 0 < amount <= remaining:
            raise _Refused(400, _error("invalid_parameter",
                                       f"refund.amount must be 1-{remaining}"))
        if self.refund_script:
            scripted = self.refund_script.pop(0)
            refund = {"amount": amount, "date": _stamp(), **scripted}
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
                       "date": _stamp()},
            "transaction": {"status": "SUCCESS", "type": "REFUND", "date": _stamp()},
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

    # -- the payer -------------------------------------------------------------------

    def script_refund(self, status: str | None, message: str | None = None,
                      code: str | None = None) -> None:
        """Make the next refund answer HTTP 200 with ``refund.status = status`` (``None``: no
        status at all) and optional ``message``/``code``, without moving any money."""
        self.refund_script.append({"status": status, "message": message, "code": code})

    def _settle_outcome(self, invoice: str, status: str, channel: dict) -> dict:
        with self._lock:
            order = self.orders[invoice]
            retrying = order["status"] == "FAILED" and order["retry_allowed"]
            if order["status"] != "PENDING" and not retrying:
                raise ValueError(f"order {invoice} is {order['status']}, not open for payment")
            order["status"], order["channel"] = status, channel
            order["paid_at"] = _now()
            return self.status_body(invoice)

    def pay_va(self, invoice: str, bank: str = "BCA") -> dict:
        """The payer pays by virtual account; returns the notification body DOKU sends."""
        number = f"1900{next(self._counter):012d}"
        return self._settle_outcome(invoice, "SUCCESS", {
            "service": "VIRTUAL_ACCOUNT", "acquirer": bank, "channel": f"VIRTUAL_ACCOUNT_{bank}",
            "virtual_account_info": {"virtual_account_number": number},
            "virtual_account_payment": {"identifier": [
                {"name": "REFERENCE", "value": str(next(self._counter))}]},
        })

    def pay_card(self, invoice: str) -> dict:
        """The payer pays by card (approved)."""
        return self._settle_outcome(invoice, "SUCCESS", {
            "service": "CREDIT_CARD", "acquirer": "BANK_MANDIRI", "channel": "CREDIT_CARD",
            "card_payment": {"masked_card_number": "411111******1111",
                             "approval_code": f"{next(self._counter):06d}",
                             "response_code": "00", "response_message": "PAYMENT APPROVED",
                             "issuer": "BANK MANDIRI"},
        })

    def pay_o2o(self, invoice: str, store: str = "ALFA") -> dict:
        """The payer pays at a convenience store (online-to-offline payment code)."""
        code = f"8888{next(self._counter):08d}"
        return self._settle_outcome(invoice, "SUCCESS", {
            "service": "ONLINE_TO_OFFLINE", "acquirer": store,
            "channel": f"ONLINE_TO_OFFLINE_{store}",
            "online_to_offline_info": {"payment_code": code},
        })

    def decline_card(self, invoice: str, message: str = "DO NOT HONOR",
                     code: str = "05") -> dict:
        """The payer's card is declined (transaction status FAILED). The payer may try again
        on the same checkout unless it was created with ``disable_retry_payment``."""
        return self._settle_outcome(invoice, "FAILED", {
            "service": "CREDIT_CARD", "acquirer": "BANK_MANDIRI", "channel": "CREDIT_CARD",
            "card_payment": {"masked_card_number": "400000******0002", "response_code": code,
                             "response_message": message},
        })

    def expire(self, invoice: str) -> dict:
        """The payment deadline passes unpaid (status EXPIRED; DOKU sends no notification)."""
        return self._settle_outcome(invoice, "EXPIRED", {})

    def status_body(self, invoice: str) -> dict:
        """The order as DOKU describes it in notifications and check-status answers."""
        order = self.orders[invoice]
        channel = order["channel"]
        body: dict[str, Any] = {
            "order": {"invoice_number": order["invoice"], "amount": order["amount"]},
            "transaction": {"status": order["status"],
                            "date": _stamp(order["paid_at"] or order["created"]),
                            "original_request_id": order["request_id"]},
        }
        if channel:
            body["service"] = {"id": channel["service"]}
            body["acquirer"] = {"id": channel["acquirer"]}
            body["channel"] = {"id": channel["channel"]}
            for block in ("virtual_account_info", "virtual_account_payment",
                          "online_to_offline_info", "card_payment"):
                if block in channel:
                    body[block] = channel[block]
        if order["refunds"]:
            last = order["refunds"][-1]
            body["refund"] = {"id": last["id"], "amount": last["amount"]}
        return body

    # -- notifications ---------------------------------------------------------------

    def notification(self, invoice: str, target: str, *, secret: str | None = None,
                     extra: dict | None = None, request_id: str | None = None,
                     body: dict | None = None) -> tuple[dict, bytes]:
        """Build a signed notification for ``invoice`` as DOKU sends it to ``target``.

        :param target: the path of the notification URL (DOKU's Request-Target).
        :param secret: sign with this key instead of the merchant's (to test refusal).
        :param extra: fields to add to the body (DOKU adds fields over time).
        :param body: send this body instead of the order's current one.
        :returns: ``(headers, raw body bytes)``; the Request-Id is stable per outcome.
        """
        order = self.orders[invoice]
        data = dict(body if body is not None else self.status_body(invoice))
        data.update(extra or {})
        raw = json.dumps(data).encode()
        client_id = order["client_id"]
        request_id = request_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order['invoice']}:"
                                                  f"{data['transaction']['status']}"))
        stamp = _stamp()
        key = secret if secret is not None else self.merchants[client_id]
        return ({"Client-Id": client_id, "Request-Id": request_id, "Request-Timestamp": stamp,
                 "Signature": doku_signature(key, client_id, request_id, stamp, target, raw),
                 "Content-Type": "application/json"}, raw)

    def deliver(self, invoice: str, url: str | None = None, *, retries: int = 3,
                duplicates: int = 0, secret: str | None = None,
                extra: dict | None = None) -> list[int]:
        """POST the order's notification to ``url`` like DOKU does.

        Without a 2xx answer DOKU retries up to ``retries`` times (at +30 min, +6 h and
        +12 h; the emulator does not wait). ``duplicates`` sends that many extra copies
        after a success. ``url`` defaults to the order's override_notification_url.

        :returns: the HTTP status of every attempt, in order.
        """
        url = url or self.orders[invoice]["notify_url"] or self.default_notification_url
        if not url:
            raise ValueError("no notification URL: pass url= or set one at checkout")
        target = urlsplit(url).path

        def attempt(when: str) -> int:
            # Every attempt is a new HTTP request: fresh timestamp and signature, same body
            # and Request-Id.
            headers, raw = self.notification(invoice, target, secret=secret, extra=extra)
            return self._post(url, headers, raw, invoice, when)

        statuses = [attempt("")]
        for when in RETRY_SCHEDULE[:retries]:
            if 200 <= statuses[-1] < 300:
                break
            statuses.append(attempt(when))
        if 200 <= statuses[-1] < 300:
            statuses.extend(attempt("duplicate") for _ in range(duplicates))
        return statuses

    def _post(self, url: str, headers: dict, raw: bytes, invoice: str, when: str) -> int:
        try:
            status = requests.post(url, data=raw, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = 0
        self.deliveries.append({"invoice": invoice, "url": url, "headers": headers,
                                "body": raw, "status": status, "retry": when})
        return status

    def redeliver(self, index: int, url: str | None = None) -> int:
        """Send an earlier delivery (by index in ``deliveries``) again, byte for byte.

        Re-sending an old one after a newer one gives an out-of-order delivery.
        """
        old = self.deliveries[index]
        return self._post(url or old["url"], old["headers"], old["body"], old["invoice"],
                          "redelivery")

    # -- settlement ------------------------------------------------------------------

    REPORT_HEADER = ("Batch ID", "Invoice Number", "Transaction Date", "Settlement Date",
                     "Channel", "Amount", "Fee", "Tax", "Net Amount")

    def settlement_report_rows(self, invoices: list[str] | None = None, *,
                               batch_id: str = "STL-0001", fee: int = 4000,
                               tax_percent: int = 11,
                               settled_on: dt.date | None = None) -> list[tuple]:
        """The rows of a settlement report for paid orders (typed values, header excluded):
        batch, invoice, paid-at (WIB, naive), settlement date, channel, then the gross
        amount, a flat ``fee``, the tax on the fee and the net, in whole rupiah (int)."""
        chosen = invoices or [i for i, o in self.orders.items() if o["status"] == "SUCCESS"]
        day = settled_on or _now().astimezone(WIB).date()
        rows = []
        for invoice in chosen:
            order = self.orders[invoice]
            tax = fee * tax_percent // 100
            paid = (order["paid_at"] or order["created"]).astimezone(WIB).replace(tzinfo=None)
            rows.append((batch_id, order["invoice"], paid, day,
                         order["channel"].get("channel", ""),
                         order["amount"], fee, tax, order["amount"] - fee - tax))
        return rows

    def settlement_report_csv(self, invoices: list[str] | None = None, **kwargs) -> bytes:
        """A settlement report (CSV) for paid orders, in the columns the plugin documents
        (keyword arguments as :meth:`settlement_report_rows`); amounts written ``150000.00``.
        """
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.REPORT_HEADER)
        for batch, invoice, paid, day, channel, *amounts in self.settlement_report_rows(
                invoices, **kwargs):
            writer.writerow([batch, invoice, paid.strftime("%Y-%m-%d %H:%M:%S"),
                             day.isoformat(), channel, *(f"{a}.00" for a in amounts)])
        return out.getvalue().encode("utf-8")

    def settlement_report_xlsx(self, invoices: list[str] | None = None, **kwargs) -> bytes:
        """The same report as :meth:`settlement_report_csv`, as an XLSX workbook: amounts
        are numeric cells formatted ``#,##0.00``, dates are date cells."""
        import openpyxl  # only this report needs it

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "Settlement"
        sheet.append(self.REPORT_HEADER)
        for row in self.settlement_report_rows(invoices, **kwargs):
            sheet.append(row)
            cells = sheet[sheet.max_row]
            cells[2].number_format = "yyyy-mm-dd hh:mm:ss"
            cells[3].number_format = "yyyy-mm-dd"
            for cell in cells[5:]:
                cell.number_format = "#,##0.00"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
