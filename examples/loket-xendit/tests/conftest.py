"""Give loket's conformance kit a harness for Xendit Invoices and its emulator."""

import datetime as dt

import pytest

from loket.plugin_api import GatewayConfig, WebhookRequest
from loket.testing import GatewayHarness
from loket_xendit import plugin
from loket_xendit.testing import CALLBACK_TOKEN, SECRET_KEY, XenditEmulator

WEBHOOK_PATH = "/v1/webhooks/xendit/test-token"


class XenditHarness(GatewayHarness):
    """A token gateway: no decline callback, no refund callback, no settlement data."""

    kind = "xendit"
    two_decimal_currency = "IDR"
    zero_decimal_currency = None
    round_trip_amounts = {"IDR": [1_000_000, 1_250_000, 99_999_900]}
    webhook_auth = "token"
    decline_callback = False
    refund_callback = False
    settlement = ()

    def __init__(self, emulator, plugin_module=plugin):
        self.emulator = emulator
        self.extra_plugins = () if _installed() else (plugin_module,)

    def make_config(self, currency):
        return GatewayConfig(
            id=1, tenant_id=1, kind=self.kind, currency=currency,
            credentials={"secret_key": SECRET_KEY, "callback_token": CALLBACK_TOKEN},
            webhook_url="https://loket.example" + WEBHOOK_PATH, webhook_path=WEBHOOK_PATH,
            options={"api_base": self.emulator.url})

    def bad_credentials(self):
        return {"secret_key": "xnd_development_revoked000", "callback_token": CALLBACK_TOKEN}

    def payer_acts(self, config, session, outcome):
        act = {"pay": self.emulator.pay, "decline": self.emulator.decline,
               "abandon": self.emulator.abandon}[outcome]
        sent = act(session.gateway_reference)
        if sent is None:
            return None
        body, headers = sent
        return WebhookRequest(body=body, headers=headers, path=WEBHOOK_PATH,
                              received_at=dt.datetime.now(dt.UTC))

    def charged_amount(self, config, session):
        return str(self.emulator.invoices[session.gateway_reference]["amount"])


def _installed():
    from importlib.metadata import entry_points

    return any(ep.name == "xendit" for ep in entry_points(group="loket"))


@pytest.fixture(scope="session")
def loket_gateway_harness():
    with XenditEmulator() as emulator:
        yield XenditHarness(emulator)
