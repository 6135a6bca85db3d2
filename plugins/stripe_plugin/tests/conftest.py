"""Fixtures for the Stripe plugin's tests: a running emulator, a configuration pointed at
it, a webhook receiver, and the conformance harness (``loket_gateway_harness``).

Helpers live in :mod:`loket_stripe.testing.kit` (conftest modules of several test directories share
the name ``conftest``, so tests never import from it).
"""

from __future__ import annotations

import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loket.plugin_api import WebhookRequest
from loket_stripe import plugin
from loket_stripe.testing.emulator import StripeEmulator
from loket_stripe.testing.kit import (
    WEBHOOK_PATH,
    StripeHarness,
    anchor_requests,
    checkout_request,
    make_config,
)


@pytest.fixture(autouse=True)
def _requests_anchored_at_the_start_of_each_test():
    """Two requests a test builds for one payment are identical, as the core's are."""
    anchor_requests(dt.datetime.now(dt.UTC))


@pytest.fixture
def emulator():
    """A fresh stateful Stripe emulator on a loopback port."""
    with StripeEmulator() as emu:
        yield emu


@pytest.fixture
def config(emulator):
    """A USD Stripe configuration pointed at the emulator."""
    return make_config(emulator)


@pytest.fixture
def charged(config):
    """A Checkout Session created through the charge hook (two bills, 120.50 + 30.00 USD)."""
    return plugin.loket_gateway_charge(config=config, request=checkout_request())


class _Sink(BaseHTTPRequestHandler):
    received: list

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(WebhookRequest(
            body=body, headers={k.lower(): v for k, v in self.headers.items()},
            path=self.path, received_at=dt.datetime.now(dt.UTC)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_sink():
    """A loopback HTTP endpoint that records every webhook POSTed to it.

    Yields ``(url, received)``: ``received`` is a list of WebhookRequest in arrival order.
    """
    received: list = []
    handler = type("Sink", (_Sink,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK_PATH}", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def loket_gateway_harness(emulator):
    """The Stripe harness for loket's conformance kit, on a fresh emulator."""
    return StripeHarness(emulator)
