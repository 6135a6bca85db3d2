"""Payment links over HTTP, end to end: created for John Doe's two bills, sent by e-mail
(a real SMTP server) and SMS (the Twilio emulator), opened as HTML, part-paid through the
sandbox, then paid in full; the host receives signed events once each."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from babel.dates import format_date
from sqlalchemy import select
from support.api import problem
from support.jobs import smtp  # noqa: F401 - a fixture
from support.messaging import messaging_api, twilio  # noqa: F401 - twilio is a fixture
from support.outbox import Receiver

from loket.core.links import state
from loket.core.models import OutboxEvent, Payment, PaymentLink, Receivable
from loket.core.outbox import delivery
from loket.core.payments import timeouts

BILLS = [{"kind": "bill", "reference": "INV-2025-001234"},
         {"kind": "bill", "reference": "INV-2025-001567"}]
JOHN = "john.doe@example.com"


@pytest.fixture
def links_api(ctx, tenant_id, smtp, twilio):  # noqa: F811
    api = messaging_api(ctx, tenant_id, smtp, twilio)
    api.connect_sandbox()
    return api


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _pay(api, link_url, amount=None):
    form = "gateway=sandbox" + (f"&amount={amount}" if amount else "")
    return api.client.simulate_post(_path(link_url), body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded"})


def _paid(ctx, reference):
    with ctx.transaction() as session:
        return session.scalar(select(Receivable.paid).where(Receivable.reference == reference))


def _drain(ctx, rounds=4):
    # Minutes apart: past the first backoffs, within the receiver's 5-minute tolerance.
    for _ in range(rounds):
        delivery.deliver_due(ctx)
        ctx.clock.advance(seconds=61)


def test_a_link_is_sent_opened_part_paid_then_paid_and_the_host_hears_of_it(
        links_api, ctx, smtp, twilio):  # noqa: F811
    api = links_api
    with Receiver(fail_first=2) as host:
        made = api.post("/v1/host/webhook-endpoints", {"url": host.url, "event_types": [
            "payment.succeeded", "payment_link.paid"]}, role="tenant_admin")
        host.secret = made.json["secret"]
        created = api.post("/v1/payment-links", {
            "account_number": "WU-10001", "items": BILLS, "amount_policy": "partial",
            "minimum": "50.00", "multi_use": True, "channels": ["email", "sms"]},
            role="billing_manager")
        assert created.status_code == 201, created.text
        link = created.json
        assert link["status"] == "active" and link["outstanding"]["decimal"] == "297.75"
        assert link["url"].startswith("http://testserver/pay/pl_")

        (mail,) = smtp.to(JOHN)
        (sms,) = twilio.messages
        assert link["url"] in mail["body"] and link["url"] in sms["body"]
        assert sms["to"] == "+15550100"  # "+1 555 0100" as E.164

        page = api.client.simulate_get(_path(link["url"]))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for text in ("Test Water t1", "INV-2025-001234", "INV-2025-001567", "January 2025",
                     'name="amount"', "$297.75", 'value="sandbox"'):
            assert text in page.text

        too_little = _pay(api, link["url"], "10.00")
        assert too_little.status_code == 422 and "at least $50.00" in too_little.text

        first = _pay(api, link["url"], "100.00")
        assert first.status_code == 303
        back = api.payer_acts(first.headers["location"])
        result = api.client.simulate_get(_path(back), headers={"Accept": "text/html"})
        assert result.status_code == 200 and "text/html" in result.headers["content-type"]
        assert "$100.00" in result.text and link["url"] in result.text
        assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "INV-2025-001567")) == (10000, 0)
        assert api.get(f"/v1/payment-links/{link['id']}").json["status"] == "active"

        second = _pay(api, link["url"])  # the rest: 197.75
        assert second.status_code == 303
        api.payer_acts(second.headers["location"])
        assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "INV-2025-001567")) == (14550, 15225)
        detail = api.get(f"/v1/payment-links/{link['id']}").json
        assert detail["status"] == "paid" and detail["outstanding"]["amount"] == 0

        closed = api.client.simulate_get(_path(link["url"]))
        assert "nothing more is due" in closed.text and 'name="amount"' not in closed.text
        assert "WU-10001" not in closed.text  # a used-up link shows its state only
        assert _pay(api, link["url"], "60.00").status_code == 409

        _drain(ctx)
    accepted = [(a["body"]["type"], a["body"]["data"].get("payment", {}).get("amount_received",
                                                                              {}).get("decimal"))
                for a in host.accepted]
    assert sorted(accepted) == sorted([("payment.succeeded", "100.00"),
                                       ("payment.succeeded", "197.75"),
                                       ("payment_link.paid", None)])
    assert len(set(host.event_ids())) == 3  # once each
    assert len(host.requests) == 5  # two refused attempts, then three deliveries


def test_forged_expired_and_cancelled_links_take_no_money(links_api, ctx):
    api = links_api
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS[:1]},
                    role="cso_admin").json
    forged = link["url"][:-1] + ("0" if link["url"][-1] != "0" else "1")
    assert api.client.simulate_get(_path(forged)).status_code == 404
    assert api.client.simulate_get(_path(link["url"]) + "%C3%A9").status_code == 404
    assert _pay(api, forged).status_code == 404
    assert _pay(api, link["url"], "10.00").status_code == 422  # a full link takes no part

    cancelled = api.post(f"/v1/payment-links/{link['id']}/cancel", role="cso_admin")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    page = api.client.simulate_get(_path(link["url"]))
    assert "was cancelled" in page.text and _pay(api, link["url"]).status_code == 409
    # Whoever still holds the URL sees the state only: not the account, not its bills.
    assert "WU-10001" not in page.text and "INV-2025" not in page.text
    assert "<h1>Payment link</h1>" in page.text
    assert api.post(f"/v1/payment-links/{link['id']}/cancel",
                    role="cso_admin").status_code == 409

    soon = (ctx.now() + dt.timedelta(hours=1)).isoformat()
    short = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS[:1],
                                           "expires_at": soon}, role="cso_admin").json
    ctx.clock.advance(hours=2)
    assert state.expire_due(ctx) == 1
    expired = api.client.simulate_get(_path(short["url"])).text
    assert "has expired" in expired and "WU-10001" not in expired and "INV-2025" not in expired
    assert _pay(api, short["url"]).status_code == 409
    assert _paid(ctx, "INV-2025-001234") == 0
    listed = api.get("/v1/payment-links?status=expired").json
    assert [i["id"] for i in listed["items"]] == [short["id"]]


def test_the_payers_page_dates_the_expiry_on_the_tenants_calendar(links_api, ctx):
    api = links_api
    assert api.put("/v1/settings", {"timezone": "America/New_York"}).status_code == 200
    day = (ctx.now() + dt.timedelta(days=3)).date()
    expires = dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC)  # the evening before
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS[:1],
                                          "expires_at": expires.isoformat()},
                    role="cso_admin").json
    page = api.client.simulate_get(_path(link["url"])).text
    in_new_york = format_date(day - dt.timedelta(days=1), "medium", locale="en_US")
    assert f"valid until {in_new_york}." in page
    assert format_date(day, "medium", locale="en_US") not in page


def test_links_refuse_what_cannot_be_sent_or_paid(links_api):
    api = links_api
    bad = api.post("/v1/payment-links", {"account_number": "WU-10001",
                                         "items": [{"kind": "bill", "reference": "NOPE"}]},
                   role="cso_admin")
    assert bad.status_code == 422 and problem(bad)["errors"][0]["field"] == "items[0].reference"
    whatsapp = api.post("/v1/payment-links", {"account_number": "CRN29391",
                                              "channels": ["whatsapp"]}, role="cso_admin")
    assert whatsapp.status_code == 201  # +1 555 0101 is a valid E.164 number
    assert api.post("/v1/payment-links", {"account_number": "WU-10001"},
                    role="consumer").status_code == 403


def test_an_online_lump_sum_pays_every_open_item(links_api, ctx):
    api = links_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "all_open": True},
                       role="consumer")
    assert started.status_code == 201, started.text
    assert started.json["payment"]["amount"]["decimal"] == "600.25"
    assert started.json["payment"]["payment_type"] == "mixed"
    api.payer_acts(started.json["redirect_url"])
    with ctx.transaction() as session:
        rows = session.scalars(select(Receivable).join(
            PaymentLink, PaymentLink.consumer_id == Receivable.consumer_id, isouter=True))
        owed = {r.reference: r.amount - r.paid for r in rows if r.reference.startswith(
            ("INV-2025", "SRV-", "PP-"))}
    assert set(owed.values()) == {0}


def test_a_part_payment_online_needs_the_tenant_to_allow_it(links_api, ctx):
    api = links_api
    refused = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": BILLS,
                                           "amount": "50.00"}, role="consumer")
    assert refused.status_code == 422 and "part payments are not allowed" in refused.text
    settings = api.get("/v1/settings", role="tenant_admin").json
    settings["part_payments"] = {"allowed": True, "minimum_percent": "10"}
    assert api.put("/v1/settings", settings).status_code == 200, "settings"
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": BILLS,
                                           "amount": "160.00"}, role="consumer")
    assert started.status_code == 201, started.text
    api.payer_acts(started.json["redirect_url"])
    assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "INV-2025-001567")) == (14550, 1450)
    assert re.search("at least", api.post("/v1/me/checkout", {
        "gateway": "sandbox", "items": BILLS[1:], "amount": "1.00"}, role="consumer").text)


def test_a_blocked_account_takes_only_a_lump_sum(links_api, ctx):
    api = links_api
    marked = api.post("/v1/host/consumers", {"account_number": "WU-10001", "name": "John Doe",
                                             "status": "blocked",
                                             "status_reason": "debt collection"},
                      role="billing_manager")
    assert marked.status_code == 200 and marked.json["account_status"] == "blocked"
    refused = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": "145.50", "paid_on": "2025-01-15", "references": ["INV-2025-001234"]})
    assert refused.status_code == 422
    assert "blocked (debt collection)" in problem(refused)["detail"]
    assert problem(refused)["errors"][0]["field"] == "account_number"
    online = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": BILLS},
                      role="consumer")
    assert online.status_code == 422 and "lump-sum" in online.text
    settled = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "account", "method": "cash",
        "amount_received": "300.00", "paid_on": "2025-01-15"})
    assert settled.status_code == 201, settled.text
    # oldest due first: January's bill, the two services (due 1 March), then February's bill
    assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "SRV-RECON-0001"),
            _paid(ctx, "SRV-LATE-0001"), _paid(ctx, "INV-2025-001567")) == (14550, 7500,
                                                                           2500, 5450)
    lump = api.post("/v1/me/checkout", {"gateway": "sandbox", "all_open": True},
                    role="consumer")
    assert lump.status_code == 201, lump.text


def test_a_single_use_link_takes_one_payment(links_api, ctx):
    api = links_api
    link = api.post("/v1/payment-links", {
        "account_number": "WU-10001", "items": BILLS, "amount_policy": "partial",
        "minimum": "50.00"}, role="billing_manager").json
    first = _pay(api, link["url"], "50.00")
    assert first.status_code == 303
    again = _pay(api, link["url"], "60.00")  # another tab, or Back then Pay again
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]  # the same checkout
    api.payer_acts(first.headers["location"])
    page = api.client.simulate_get(_path(link["url"]))
    assert "has been used for a payment" in page.text and "pay-form" not in page.text
    assert "$247.75" in page.text  # what is still open, shown
    third = _pay(api, link["url"], "60.00")
    assert third.status_code == 409 and "has been used" in third.text
    assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "INV-2025-001567")) == (5000, 0)


def _link_payments(ctx, link_id: str) -> list[Payment]:
    with ctx.transaction() as session:
        return list(session.scalars(select(Payment).join(
            PaymentLink, PaymentLink.id == Payment.payment_link_id).where(
            PaymentLink.key == link_id).order_by(Payment.id)))


def test_a_multi_use_link_paid_in_full_twice_goes_on_with_the_open_checkout(links_api, ctx):
    api = links_api
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS,
                                          "multi_use": True}, role="billing_manager").json
    first = _pay(api, link["url"])
    assert first.status_code == 303
    again = _pay(api, link["url"])  # Pay pressed twice, or Back then Pay
    assert again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"]  # the same checkout
    assert len(_link_payments(ctx, link["id"])) == 1
    api.payer_acts(again.headers["location"])
    assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "INV-2025-001567")) == (14550, 15225)

    partial = api.post("/v1/payment-links", {
        "account_number": "WU-10001", "items": [{"kind": "service", "reference":
                                                 "SRV-RECON-0001"}],
        "amount_policy": "partial", "multi_use": True}, role="billing_manager").json
    whole = _pay(api, partial["url"], "75.00")
    assert _pay(api, partial["url"], "75.00").headers["location"] == whole.headers["location"]
    # Only the same payment goes on with it: a part of what is being paid is refused.
    other = _pay(api, partial["url"], "10.00")
    assert other.status_code == 409 and "already in progress" in other.text


def test_cancelling_a_link_expires_its_open_checkout_and_late_money_still_counts(
        links_api, ctx):
    api = links_api
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS,
                                          "amount_policy": "partial", "multi_use": True},
                    role="billing_manager").json
    started = _pay(api, link["url"], "100.00")
    assert started.status_code == 303
    cancelled = api.post(f"/v1/payment-links/{link['id']}/cancel", role="cso_admin")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    (payment,) = _link_payments(ctx, link["id"])
    assert payment.status == "initiated"
    assert timeouts.payment_timeout_sweep(ctx) == {"failed": 1}  # the gateway said: unpaid
    number = payment.number
    assert api.get(f"/v1/payments/{number}").json["information"]["status"] == "failed"

    # The gateway's page was still open: the payer pays there after all. The money counts.
    api.payer_acts(started.headers["location"])
    assert api.get(f"/v1/payments/{number}").json["information"]["status"] == "succeeded"
    assert (_paid(ctx, "INV-2025-001234"), _paid(ctx, "INV-2025-001567")) == (10000, 0)
    assert api.get(f"/v1/payment-links/{link['id']}").json["status"] == "cancelled"
    trail = api.get(f"/v1/audit/payment/{number}").json["items"]
    (moved,) = [e for e in trail if e["action"] == "payment.link_cancelled"]
    assert moved["actor"] and moved["after"]["payment_link"] == link["id"]


def test_a_link_whose_bill_the_host_cancels_is_cancelled_not_reported_paid(links_api, ctx):
    api = links_api
    link = api.post("/v1/payment-links", {"account_number": "WU-10001", "items": BILLS[:1]},
                    role="billing_manager").json
    withdrawn = api.post("/v1/host/receivables", {
        "account_number": "WU-10001", "kind": "bill", "reference": BILLS[0]["reference"],
        "amount": "145.50", "status": "cancelled"}, role="billing_manager")
    assert withdrawn.status_code in (200, 201), withdrawn.text

    assert api.get(f"/v1/payment-links/{link['id']}").json["status"] == "cancelled"
    page = api.client.simulate_get(_path(link["url"]))
    assert "was cancelled" in page.text and _pay(api, link["url"]).status_code == 409
    with ctx.transaction() as session:
        told = session.scalars(select(OutboxEvent.type).where(
            OutboxEvent.type.like("payment_link.%"))).all()
    assert "payment_link.paid" not in told and told.count("payment_link.cancelled") == 1
