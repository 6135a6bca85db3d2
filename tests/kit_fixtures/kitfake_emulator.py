"""A tiny HTTP emulator of an imaginary gateway, "FakePay", for the conformance kit's tests.

API (JSON, ``Authorization: Bearer <api_key>``):

- ``GET  /v1/me``                         200 for a known key, 401 otherwise
- ``POST /v1/checkouts``                  create (``Idempotency-Key`` header honoured)
- ``GET  /v1/checkouts/{id}``             read
- ``POST /v1/checkouts/{id}/refunds``     refund; 400 ``amount_too_large`` beyond the paid sum

Amounts are decimal strings in major units (``"120.50"``), as many real gateways send them,
so a plugin must convert exactly. Webhooks are signed with HMAC-SHA256 over the raw body in
the ``X-Fake-Signature`` header; the payer is driven with :meth:`pay`, :meth:`decline`,
:meth:`abandon`, which return the webhook (body, headers) the gateway would send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "fk_live_good"
WEBHOOK_SECRET = "whsec_fake"


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Return the hex HMAC-SHA256 signature of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeGateway:
    """The emulator: start with ``FakeGateway()``, read ``.url``, call ``.stop()``."""

    def __init__(self):
        self.checkouts: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.refunds: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    # -- API --------------------------------------------------------------------------

    def create(self, body: dict, key: str | None) -> dict:
        """Create a checkout, or return the one created earlier with the same key."""
        with self.lock:
            if key and key in self.by_key:
                return self.checkouts[self.by_key[key]]
            cid = "co_" + uuid.uuid4().hex[:16]
            self.checkouts[cid] = {
                "id": cid, "status": "open", "amount": body["amount"],
                "currency": body["currency"], "metadata": body.get("metadata", {}),
                "url": f"{self.url}/pay/{cid}", "refunded": "0",
            }
            if key:
                self.by_key[key] = cid
            return self.checkouts[cid]

    def refund(self, cid: str, body: dict) -> tuple[int, dict]:
        """Refund part of a paid checkout."""
        with self.lock:
            co = self.checkouts[cid]
            left = Decimal(co["amount"]) - Decimal(co["refunded"])
            if co["status"] not in ("paid", "refunded") or Decimal(body["amount"]) > left:
                return 400, {"error": {"code": "amount_too_large",
                                       "message": "Refund exceeds the paid amount."}}
            co["refunded"] = str(Decimal(co["refunded"]) + Decimal(body["amount"]))
            co["status"] = "refunded"
            refund = {"id": "re_" + uuid.uuid4().hex[:12], "status": "succeeded",
                      "amount": body["amount"], "checkout": cid}
            self.refunds[refund["id"]] = refund
            return 200, refund

    # -- payer and webhooks -----------------------------------------------------------

    def _webhook(self, kind: str, data: dict) -> tuple[bytes, dict]:
        body = json.dumps({"id": "evt_" + uuid.uuid4().hex[:16], "type": kind,
                           "data": data}).encode()
        return body, {"content-type": "application/json", "x-fake-signature": sign(body)}

    def _set(self, cid: str, status: str, **extra) -> tuple[bytes, dict]:
        with self.lock:
            co = self.checkouts[cid]
            co.update(status=status, **extra)
            return self._webhook(f"checkout.{status}", dict(co))

    def pay(self, cid: str) -> tuple[bytes, dict]:
        """The payer pays; return the signed ``checkout.paid`` webhook."""
        return self._set(cid, "paid")

    def decline(self, cid: str) -> tuple[bytes, dict]:
        """The payer's card is declined; return the signed ``checkout.declined`` webhook."""
        return self._set(cid, "declined", failure={"code": "card_declined",
                                                    "message": "Your card was declined."})

    def abandon(self, cid: str) -> tuple[bytes, dict]:
        """The checkout expires unpaid; return the signed ``checkout.expired`` webhook."""
        return self._set(cid, "expired")

    def refund_webhook(self, refund_id: str) -> tuple[bytes, dict]:
        """Return the signed ``refund.succeeded`` webhook for a refund made through the API."""
        refund = self.refunds[refund_id]
        co = self.checkouts[refund["checkout"]]
        return self._webhook("refund.succeeded", {**refund, "metadata": co["metadata"],
                                                  "currency": co["currency"]})


def _handler(gw: FakeGateway):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("authorization") == f"Bearer {API_KEY}":
                return True
            self._send(401, {"error": {"code": "invalid_api_key",
                                       "message": "Invalid API key provided."}})
            return False

        def do_GET(self):
            if not self._authorized():
                return
            parts = self.path.strip("/").split("/")
            if parts == ["v1", "me"]:
                return self._send(200, {"account": "Fake Utility"})
            if parts[:2] == ["v1", "checkouts"] and len(parts) == 3 and parts[2] in gw.checkouts:
                return self._send(200, gw.checkouts[parts[2]])
            self._send(404, {"error": {"code": "not_found", "message": "No such object."}})

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self._authorized():
                return
            parts = self.path.strip("/").split("/")
            if parts == ["v1", "checkouts"]:
                return self._send(200, gw.create(body, self.headers.get("idempotency-key")))
            if parts[:2] == ["v1", "checkouts"] and parts[3:] == ["refunds"]:
                return self._send(*gw.refund(parts[2], body))
            self._send(404, {"error": {"code": "not_found", "message": "No such route."}})

    return Handler
