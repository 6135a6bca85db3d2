"""Status words, their mapping table, and the check-status API."""

import attrs
import pytest

from loket.plugin_api import GatewayError, Money
from loket_doku import plugin
from loket_doku.checkout import invoice_for
from loket_doku.testing.kit import WEBHOOK_PATH, charge_unscoped, make_request, webhook_from


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


def fetch(config, payment_id, reference=None):
    """The status of ``payment_id`` whose gateway reference is ``reference`` (the invoice
    loket sent for it, unless given)."""
    return plugin.loket_gateway_fetch_status(
        config=config, payment_id=payment_id,
        gateway_reference=reference or invoice_for(config, payment_id))


def test_fetch_status_follows_the_order_through_doku(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000200", 75_000))
    pending = fetch(config, "PAY-2024-000200")
    assert (pending.type, pending.raw_status) == ("payment.pending", "PENDING")
    probe = doku.log[-1]
    invoice = invoice_for(config, "PAY-2024-000200")
    assert (probe["method"], probe["path"], probe["body"], probe["status"]) == \
        ("GET", f"/orders/v1/status/{invoice}", b"", 200)  # GET signature, no Digest
    doku.pay_va("PAY-2024-000200", bank="BRI")
    paid = fetch(config, "PAY-2024-000200")
    assert paid.type == "payment.succeeded" and paid.amount == Money(7_500_000, "IDR")
    assert (paid.payment_id, paid.gateway_reference) == ("PAY-2024-000200", invoice)
    assert paid.details["channel"] == "VIRTUAL_ACCOUNT_BRI"
    (webhook_event,) = plugin.loket_gateway_parse_webhook(
        config=config, request=webhook_from(*doku.notification("PAY-2024-000200", WEBHOOK_PATH)))
    assert paid.event_id == webhook_event.event_id  # a poll and a notification dedupe


def test_a_status_check_never_reads_another_installations_payment(config, doku):
    """Two installations sharing a DOKU merchant both have a PAY-2024-000210: each asks
    DOKU about its own invoice, so one's SUCCESS is never the other's."""
    ours = attrs.evolve(config, installation_id="a" * 32)
    theirs = attrs.evolve(config, installation_id="b" * 32)
    for cfg in (ours, theirs):
        plugin.loket_gateway_charge(config=cfg, request=make_request("PAY-2024-000210"))
    doku.pay_va(invoice_for(theirs, "PAY-2024-000210"))
    assert fetch(theirs, "PAY-2024-000210").type == "payment.succeeded"
    for reference in (invoice_for(ours, "PAY-2024-000210"), None):  # None: none stored yet
        mine = plugin.loket_gateway_fetch_status(config=ours, payment_id="PAY-2024-000210",
                                                 gateway_reference=reference)
        assert (mine.type, mine.raw_status) == ("payment.pending", "PENDING")
        assert doku.log[-1]["path"].endswith(invoice_for(ours, "PAY-2024-000210"))


def test_status_of_a_checkout_from_before_scoped_invoices(config, doku):
    charge_unscoped(config, make_request("PAY-2023-000778", 75_000))
    doku.pay_va("PAY-2023-000778")
    paid = fetch(config, "PAY-2023-000778", "PAY-2023-000778")
    assert (paid.type, paid.gateway_reference) == ("payment.succeeded", "PAY-2023-000778")


def test_expired_checkout_is_reported_as_expired(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000201"))
    doku.expire("PAY-2024-000201")
    event = fetch(config, "PAY-2024-000201")
    assert (event.type, event.failure_category) == ("payment.expired", "expired")


def test_invoice_doku_does_not_know_is_still_pending(config):
    event = fetch(config, "PAY-NEVER-SENT")
    assert (event.type, event.payment_id) == ("payment.pending", "PAY-NEVER-SENT")
    assert event.gateway_reference == invoice_for(config, "PAY-NEVER-SENT")


def test_a_paid_status_without_a_readable_amount_is_not_applied(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000202"))
    doku.pay_va("PAY-2024-000202")
    doku.orders["PAY-2024-000202"]["amount"] = "lots"
    with pytest.raises(GatewayError, match="cannot be read"):
        fetch(config, "PAY-2024-000202")
