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

import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loket_doku.testing.emulator_api import ApiMixin
from loket_doku.testing.emulator_notifications import NotificationMixin
from loket_doku.testing.emulator_payer import PayerMixin
from loket_doku.testing.emulator_settlement import SettlementMixin
from loket_doku.testing.emulator_wire import (
    CHECKOUT_PATH,
    DEFAULT_CLIENT_ID,
    DEFAULT_SECRET_KEY,
    PAGE_PREFIX,
    REFUND_PATH,
    RETRY_SCHEDULE,
    STATUS_PREFIX,
    WIB,
    Orders,
    doku_signature,
)

__all__ = ["CHECKOUT_PATH", "DEFAULT_CLIENT_ID", "DEFAULT_SECRET_KEY", "PAGE_PREFIX",
           "REFUND_PATH", "RETRY_SCHEDULE", "STATUS_PREFIX", "WIB", "DokuEmulator",
           "doku_signature"]


class DokuEmulator(ApiMixin, PayerMixin, NotificationMixin, SettlementMixin):
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
        self.orders: dict[str, dict] = Orders()
        self.replays: dict[tuple, tuple[int, bytes, str]] = {}
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
