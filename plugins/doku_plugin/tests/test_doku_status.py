"""Status words, their mapping table, and the check-status API."""

import attrs
import pytest

from loket.plugin_api import GatewayError, Money
from loket_doku import plugin
from loket_doku.testing.kit import WEBHOOK_PATH, make_request, webhook_from


@pytest.mark.parametrize("raw,internal,webhook_status,event", [
    ("PENDING", None, "Pending", "payment.pending"),
    ("SUCCESS", "succeeded", "In Settlement", "payment.succeeded"),
    ("FAILED", None, "Attempt failed, the payer may try again", "payment.pending"),
    ("EXPIRED", "failed", "Expired", "payment.expired"),
    ("REFUNDED", "refunded", "Refunded", "payment.refunded"),
    ("TIMEOUT", None, "Timed out at the e-wallet, awaiting final status", "payment.pending"),
    ("REDIRECT", None, "Awaiting card verification (3-D Secure)", "payment.pending"),
    ("SETTLED", "completed", "Settled", "payment.settled"),
])
def test_status_table(config, raw, internal, webhook_status, event):
    from loket_doku.statuses import event_type

    mapping = plugin.loket_gateway_map_status(config=config, raw_status=raw.lower())
    assert (mapping.internal, mapping.webhook_status) == (internal, webhook_status)
    assert event_type(raw) == event


def test_failed_is_final_only_when_retries_are_disabled(config):
    from loket_doku.statuses import event_type

    closed = attrs.evolve(config, options={**config.options, "disable_retry_payment": True})
    mapping = plugin.loket_gateway_map_status(config=closed, raw_status="FAILED")
    assert (mapping.internal, mapping.webhook_status) == ("failed", "Failed")
    assert event_type("FAILED", retries_allowed=False) == "payment.failed"


def test_unknown_status_changes_nothing(config):
    mapping = plugin.loket_gateway_map_status(config=config, raw_status="CAPTURED_SOMEHOW")
    assert mapping.internal is None and "CAPTURED_SOMEHOW" in mapping.webhook_status


def fetch(config, invoice):
    return plugin.loket_gateway_fetch_status(config=config, payment_id=invoice,
                                             gateway_reference=invoice)


def test_fetch_status_follows_the_order_through_doku(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000200", 75_000))
    pending = fetch(config, "PAY-2024-000200")
    assert (pending.type, pending.raw_status) == ("payment.pending", "PENDING")
    probe = doku.log[-1]
    assert (probe["method"], probe["path"], probe["body"], probe["status"]) == \
        ("GET", "/orders/v1/status/PAY-2024-000200", b"", 200)  # GET signature, no Digest
    doku.pay_va("PAY-2024-000200", bank="BRI")
    paid = fetch(config, "PAY-2024-000200")
    assert paid.type == "payment.succeeded" and paid.amount == Money(7_500_000, "IDR")
    assert paid.details["channel"] == "VIRTUAL_ACCOUNT_BRI"
    (webhook_event,) = plugin.loket_gateway_parse_webhook(
        config=config, request=webhook_from(*doku.notification("PAY-2024-000200", WEBHOOK_PATH)))
    assert paid.event_id == webhook_event.event_id  # a poll and a notification dedupe


def test_expired_checkout_is_reported_as_expired(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000201"))
    doku.expire("PAY-2024-000201")
    event = fetch(config, "PAY-2024-000201")
    assert (event.type, event.failure_category) == ("payment.expired", "expired")


def test_invoice_doku_does_not_know_is_still_pending(config):
    event = fetch(config, "PAY-NEVER-SENT")
    assert (event.type, event.payment_id) == ("payment.pending", "PAY-NEVER-SENT")


def test_a_paid_status_without_a_readable_amount_is_not_applied(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000202"))
    doku.pay_va("PAY-2024-000202")
    doku.orders["PAY-2024-000202"]["amount"] = "lots"
    with pytest.raises(GatewayError, match="cannot be read"):
        fetch(config, "PAY-2024-000202")
