"""The built-in sandbox gateway passes loket's own conformance kit."""

import datetime as dt

import attrs
import pytest

from loket.gateways import sandbox, sandbox_mandates, sandbox_page, sandbox_report, sandbox_store
from loket.money import Money
from loket.testing import GatewayConformance, GatewayHarness
from loket.types import GatewayConfig, RefundRequest


class SandboxHarness(GatewayHarness):
    """Drives the sandbox's hosted page directly (its "emulator" is loket itself)."""

    kind = "sandbox"
    round_trip_amounts = {"USD": [1, 50, 12050, 99999999], "JPY": [1, 12345]}
    settlement = ("api", "report")

    def __init__(self, state_path):
        self.options = {"state_path": str(state_path), "loket_base_url": "http://testserver"}

    def make_config(self, currency):
        return GatewayConfig(
            id=7, tenant_id=1, kind="sandbox", currency=currency,
            credentials={"merchant_name": "Kit", "secret": "sbx_kit0123456789abcdef"},
            webhook_url="http://testserver/v1/webhooks/sandbox/tok",
            webhook_path="/v1/webhooks/sandbox/tok", options=self.options)

    def bad_credentials(self):
        return {"merchant_name": "Kit", "secret": "sbx_revoked0123456789"}

    def _db(self):
        return sandbox_store.open_path(sandbox_store.store_path(self.options))

    def payer_acts(self, config, session, outcome):
        action = {"abandon": "cancel"}.get(outcome, outcome)
        webhook, _ = sandbox_page.payer_acts(self._db(), session.gateway_reference, action)
        return webhook.as_request() if webhook else None

    def payer_saves_mandate(self, config, setup, behaviour):
        card = {"ok": "ok", "soft": "soft", "hard": "hard"}[behaviour]
        db = sandbox_mandates._db(self.options)
        webhook, _ = sandbox_mandates.payer_saves(db, setup.gateway_reference, card)
        return [webhook.as_request()] if webhook else []

    def settlement_report(self, config, paid):
        """The sandbox pays out what is paid, then writes its CSV report of the payouts."""
        sandbox_page.settle(self._db())
        now = dt.datetime.now(dt.UTC)
        report = sandbox_report.write_report(self._db(), config.id, now - dt.timedelta(days=1),
                                             now + dt.timedelta(days=1))
        return report.encode(), "settlement.csv"

    def refund_webhook(self, config, session, refund):
        webhook = sandbox_page.refund_webhook(self._db(), refund.refund_reference)
        return webhook.as_request() if webhook else None


@pytest.fixture
def loket_gateway_harness(tmp_path):
    return SandboxHarness(tmp_path / "sandbox.sqlite3")


class TestSandboxConformance(GatewayConformance):
    pass


def test_a_payment_number_reused_after_a_dead_attempt_gets_a_checkout_of_its_own(tmp_path):
    """A number taken by an attempt whose transaction died is taken again by the next
    payment: the sandbox must charge that payment's amount, not the dead attempt's."""
    harness = SandboxHarness(tmp_path / "sandbox.sqlite3")
    config = harness.make_config("USD")
    dead = sandbox.loket_gateway_charge(config=config, request=harness.checkout_request(
        config, "PAY-REUSED", Money(5166, "USD")))
    retried = sandbox.loket_gateway_charge(config=config, request=harness.checkout_request(
        config, "PAY-REUSED", Money(5166, "USD")))
    assert retried.gateway_reference == dead.gateway_reference  # a retry: the same checkout

    reused = sandbox.loket_gateway_charge(config=config, request=harness.checkout_request(
        config, "PAY-REUSED", Money(3171, "USD")))
    assert reused.gateway_reference != dead.gateway_reference
    webhook, _ = sandbox_page.payer_acts(harness._db(), reused.gateway_reference, "pay")
    [event] = sandbox.loket_gateway_parse_webhook(config=config, request=webhook.as_request())
    assert (event.payment_id, event.amount) == ("PAY-REUSED", Money(3171, "USD"))
    assert sandbox_store.find(harness._db(), dead.gateway_reference) is None


def test_two_configurations_refunding_the_same_number_each_get_their_refund(tmp_path):
    """Every tenant numbers its payments from 1, so refund ids repeat across tenants: the
    sandbox keys a refund within its configuration, as a gateway keys it within one merchant
    account, instead of answering one tenant's refund with another's."""
    harness = SandboxHarness(tmp_path / "sandbox.sqlite3")
    refunded = []
    for config_id, tenant_id in ((7, 1), (8, 2)):
        config = attrs.evolve(harness.make_config("USD"), id=config_id, tenant_id=tenant_id)
        charged = sandbox.loket_gateway_charge(config=config, request=harness.checkout_request(
            config, "PAY-2026-000001", Money(100, "USD")))
        sandbox_page.payer_acts(harness._db(), charged.gateway_reference, "pay")
        request = RefundRequest(refund_id="PAY-2026-000001-R", payment_id="PAY-2026-000001",
                                gateway_reference=charged.gateway_reference,
                                amount=Money(100, "USD"), captured=Money(100, "USD"))
        first = sandbox.loket_gateway_refund(config=config, request=request)
        again = sandbox.loket_gateway_refund(config=config, request=request)
        assert again.refund_reference == first.refund_reference  # a retry is a replay
        refunded.append((first.refund_reference, sandbox_store.find(
            harness._db(), charged.gateway_reference)["status"]))
    assert refunded[0][0] != refunded[1][0]
    assert [status for _, status in refunded] == ["refunded", "refunded"]
