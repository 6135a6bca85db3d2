"""Messages to people through the outbox: the tenant's channels and words, the ``log``
channel, E.164 phone numbers, a link sent again on another channel, and the signed receipt
link of the messages that say a receipt is ready."""

from __future__ import annotations

import json
import re

import pytest
from support.db import statements_sent
from support.engine import ACTOR, connect_sandbox, deliver, payer, post, start
from support.jobs import Clock

from loket.core.links import links
from loket.core.outbox import delivery, messages
from loket.core.settings import load_settings, save_settings
from loket.errors import Gone, NotFound, ValidationFailed


@pytest.mark.parametrize("raw, expected", [
    ("+62 812-3456-7890", "+6281234567890"), ("+1 (555) 0100", "+15550100"),
    ("081234567890", None), ("+0812345678", None), ("", None), (None, None),
    ("+1234567890123456", None)])
def test_phone_numbers_are_taken_in_e164_only(raw, expected):
    assert messages.e164(raw) == expected


def _messages_log(ctx):
    path = ctx.config.var_dir / "messages.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_log_channel_writes_the_tenants_words_to_var(ctx, tenant_id):
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        save_settings(session, tenant_id, {**document, "messages": {
            "channels": {"default": ["log"]},
            "templates": {"payment_link.sent": {"subject": "Tagihan {name}",
                                                "body": "Bayar {amount} di {url}"}}}})
    with ctx.transaction() as session:
        link = links.create_link(ctx, session, ACTOR, tenant_id, links.LinkRequest(
            account_number="WU-10001", channels=("log",)))
        url = links.url_of(ctx, link)
    (line,) = _messages_log(ctx)  # tried at once, right after the commit
    assert line["subject"] == "Tagihan John Doe" and line["body"] == f"Bayar $600.25 di {url}"
    assert line["to"] == "john.doe@example.com" and line["kind"] == "payment_link.sent"
    assert delivery.deliver_due(ctx) == {}  # nothing left to send

    with ctx.transaction() as session:
        links.send_link(ctx, session, ACTOR, links.get_link(session, tenant_id, link.key),
                        ["log"])
    assert len(_messages_log(ctx)) == 2


def test_a_channel_without_an_address_is_refused_naming_it(ctx, tenant_id):
    from loket.core.host import receivables
    with ctx.transaction() as session:
        receivables.upsert_consumer(session, ACTOR, tenant_id, {
            "account_number": "WU-10001", "name": "John Doe", "phone": "0812 345"})
    with pytest.raises(ValidationFailed) as refused:
        with ctx.transaction() as session:
            links.create_link(ctx, session, ACTOR, tenant_id, links.LinkRequest(
                account_number="WU-10001", channels=("log", "sms")))
    assert refused.value.errors[0]["field"] == "channels[1]"
    assert "E.164" in refused.value.detail


def _on_the_log_channel(ctx, tenant_id: int) -> None:
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        save_settings(session, tenant_id, {**document, "messages": {
            "channels": {"default": ["log"]}, "templates": {}}})


def test_the_messages_saying_a_receipt_is_ready_carry_its_signed_link(ctx, tenant_id):
    clock = Clock()
    ctx.clock = clock
    _on_the_log_channel(ctx, tenant_id)
    connect_sandbox(ctx, tenant_id)
    paying = start(ctx, tenant_id, [("bill", "INV-2025-001567")])
    deliver(ctx, payer(ctx, paying, "pay"))
    recorded = post(ctx, tenant_id, amount_received="145.50", references=["INV-2025-001234"])
    sent = {line["kind"]: line for line in _messages_log(ctx)}
    assert {"payment.initiated", "payment.succeeded", "payment.posted"} <= set(sent)
    for kind in ("payment.initiated", "payment.succeeded"):  # no receipt yet: no link
        assert "/receipts/" not in sent[kind]["body"] + sent[kind]["data"]["sms"], kind
    posted = sent["payment.posted"]
    number = recorded.number
    found = re.search(rf"http://testserver/receipts/t1/{number}\?sig=(\S+)$", posted["body"])
    assert found, posted["body"]
    assert found.group(0) in posted["data"]["sms"]
    sig = found.group(1)
    messages.verify_receipt_link(ctx, tenant_id, number, sig)  # genuine: no error
    for tenant, payment in ((tenant_id + 1, number), (tenant_id, paying.number)):
        with pytest.raises(NotFound):
            messages.verify_receipt_link(ctx, tenant, payment, sig)
    clock.advance(days=messages.RECEIPT_LINK_DAYS, seconds=1)
    with pytest.raises(Gone):
        messages.verify_receipt_link(ctx, tenant_id, number, sig)


def test_a_message_without_a_receipt_link_looks_up_no_tenant(ctx, tenant_id):
    """A webhook taking a payment's money tells its payer without a receipt link: the
    tenant's slug, which only the link needs, costs that webhook no statement."""
    _on_the_log_channel(ctx, tenant_id)
    connect_sandbox(ctx, tenant_id)
    paying = start(ctx, tenant_id, [("bill", "INV-2025-001567")])
    sent = statements_sent(ctx.engine)
    deliver(ctx, payer(ctx, paying, "pay"))
    assert "payment.succeeded" in {line["kind"] for line in _messages_log(ctx)}
    assert not [s for s in sent if "FROM tenants" in s], sent
