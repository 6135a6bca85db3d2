"""Auto-pay end to end over HTTP with Stripe (the real SDK against the Stripe emulator): the
payer saves a card in Checkout's setup mode, the SetupIntent's PaymentMethod is attached to
a Customer, and the job charges due bills with off-session PaymentIntents; a soft decline is
retried and the third try pays; ``authentication_required`` is a hard decline (the payer
must pay another way); detaching the card in Stripe revokes the mandate."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from support.autopay import add_bill, consumer_token, control_time, new_account, outstanding
from support.e2e import start_loket
from support.engine import seed
from support.stripe import connect_stripe

from loket.core.autopay import charges
from loket.core.models import AuditEntry
from loket_stripe.testing.emulator import StripeEmulator

ACCOUNT = "AP-30001"


@pytest.fixture
def stripe_emu():
    with StripeEmulator() as emulator:
        yield emulator


@pytest.fixture
def live(tmp_path, plugins, request, stripe_emu):
    """loket with Stripe connected through the emulator, a clock the test moves, and a new
    auto-pay account."""
    loket = start_loket(tmp_path, plugins, request, {
        "stripe": {"api_base": stripe_emu.url, "max_network_retries": 0}})
    tenant_id = seed(loket.ctx)
    loket.authorize(tenant_id, roles=("tenant_admin", "cso_admin"), accounts=["WU-10001"])
    connect_stripe(loket, stripe_emu)
    control_time(loket)
    new_account(loket, ACCOUNT)
    yield loket
    loket.stop()


def webhook_url(live) -> str:
    return live.get("/v1/gateways/stripe", as_="tenant_admin").json()["webhook_url"]


def save_card(live, emulator, card: str) -> tuple[str, str]:
    """The payer saves a Stripe test card in Checkout's setup mode; Stripe's webhooks reach
    loket. Returns (mandate id, PaymentMethod id)."""
    started = live.post("/v1/me/mandates", {"gateway": "stripe"}, ACCOUNT)
    assert started.status_code == 201, started.text
    page = started.json()["redirect_url"]
    session_id = page.rsplit("/", 1)[-1]
    session = emulator.objects[session_id]
    assert session["mode"] == "setup" and session["customer"].startswith("cus_")
    assert session["currency"] == "usd"
    back = live.http.post(page, data={"card": card}, allow_redirects=False, timeout=10)
    assert back.status_code == 303
    assert urlsplit(back.headers["Location"]).path == \
        f"/v1/mandate-return/{started.json()['id']}"
    waiting = live.http.get(back.headers["Location"], timeout=10).json()
    assert waiting["status"] == "pending"  # until Stripe's webhook says the card is saved
    completed = [e for e in emulator.events if e["type"] in (
        "setup_intent.succeeded", "payment_method.attached", "checkout.session.completed")
        and e["data"]["object"]["id"] in (session_id, session["setup_intent"],
                                          emulator.objects[session["setup_intent"]]
                                          ["payment_method"])]
    assert [r.status_code for r in emulator.deliver_all(completed, webhook_url(live))] == \
        [200, 200, 200]
    method = emulator.objects[session["setup_intent"]]["payment_method"]
    assert emulator.objects[method]["customer"] == session["customer"]
    assert live.http.get(back.headers["Location"], timeout=10).json()["status"] == "active"
    return started.json()["id"], method


def elect(live, mandate: str) -> None:
    answer = live.put("/v1/me/autopay", {"mandate": mandate, "item_kinds": ["bill"]}, ACCOUNT)
    assert answer.status_code == 200, answer.text


def host_events(live, kind: str) -> list[dict]:
    with live.ctx.transaction() as session:
        return [row.after for row in session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "host_event", AuditEntry.action == kind)
            .order_by(AuditEntry.id))]


def off_session_intents(emulator) -> list[dict]:
    return [o for o in emulator.objects.values()
            if o["object"] == "payment_intent" and o.get("customer")]


def test_a_saved_stripe_card_pays_a_due_bill_without_the_payer(live, stripe_emu):
    mandate, method = save_card(live, stripe_emu, "visa")
    [listed] = live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"]
    assert (listed["id"], listed["gateway"], listed["payment_method"]) == (
        mandate, "stripe", {"brand": "visa", "last4": "4242", "expiry": "12/2030"})
    elect(live, mandate)
    add_bill(live, ACCOUNT, "ST-INV-1", "120.00", due_in_days=2)

    assert charges.run_due(live.ctx) == {"scheduled": 1, "succeeded": 1}
    assert outstanding(live, ACCOUNT, "ST-INV-1") == "0.00"
    [intent] = off_session_intents(stripe_emu)
    assert (intent["status"], intent["amount"], intent["payment_method"]) == \
        ("succeeded", 12000, method)
    assert intent["metadata"]["loket_payment_id"]
    # Stripe's own webhooks about the charge arrive later and change nothing.
    later = [e for e in stripe_emu.events if e["type"] in ("charge.succeeded",
                                                            "payment_intent.succeeded")
             and e["data"]["object"].get("customer", intent["customer"]) == intent["customer"]
             and (e["data"]["object"].get("payment_intent") or e["data"]["object"]["id"])
             == intent["id"]]
    assert all(r.status_code == 200 for r in stripe_emu.deliver_all(later, webhook_url(live)))
    consumer_token(live, ACCOUNT)
    [payment] = live.get("/v1/me/payments", as_=ACCOUNT).json()["items"]
    assert payment["status"] == "succeeded"
    assert charges.run_due(live.ctx) == {"scheduled": 0}
    assert len(off_session_intents(stripe_emu)) == 1


def test_a_soft_stripe_decline_is_retried_and_the_third_try_pays(live, stripe_emu):
    mandate, method = save_card(live, stripe_emu, "visa")
    stripe_emu.decline_next(method, "insufficient_funds", "insufficient_funds")
    elect(live, mandate)
    add_bill(live, ACCOUNT, "ST-INV-2", "80.00", due_in_days=3)

    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    live.ctx.clock.advance(days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "retrying": 1}
    live.ctx.clock.advance(days=2)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "succeeded": 1}
    assert outstanding(live, ACCOUNT, "ST-INV-2") == "0.00"
    intents = sorted(off_session_intents(stripe_emu), key=lambda i: i["created"])
    assert [i["status"] for i in intents] == ["requires_payment_method",
                                              "requires_payment_method", "succeeded"]
    assert [(a["attempt"], a["decline_code"], a["decline_kind"])
            for a in host_events(live, "autopay.attempted")] == [
        (1, "insufficient_funds", "soft"), (2, "insufficient_funds", "soft"), (3, None, None)]


def test_authentication_required_is_a_hard_decline(live, stripe_emu):
    mandate, _method = save_card(live, stripe_emu, "authentication_required")
    elect(live, mandate)
    add_bill(live, ACCOUNT, "ST-INV-3", "60.00", due_in_days=1)

    assert charges.run_due(live.ctx) == {"scheduled": 1, "failed": 1}
    live.ctx.clock.advance(days=10)
    assert charges.run_due(live.ctx) == {"scheduled": 0}
    assert len(off_session_intents(stripe_emu)) == 1
    [failed] = host_events(live, "autopay.failed")
    assert failed["decline_code"] == "authentication_required"
    todos = live.get("/v1/todos", as_="tenant_admin").json()["items"]
    assert any(t["kind"] == "autopay.failed" for t in todos)
    assert outstanding(live, ACCOUNT, "ST-INV-3") == "60.00"


def test_revoking_detaches_the_card_in_stripe(live, stripe_emu):
    mandate, method = save_card(live, stripe_emu, "visa")
    elect(live, mandate)
    revoked = live.call("DELETE", f"/v1/me/mandates/{mandate}", ACCOUNT)
    assert revoked.status_code == 200, revoked.text
    assert stripe_emu.objects[method]["customer"] is None  # detached at Stripe
    [detached] = stripe_emu.events_of("payment_method.detached")
    assert stripe_emu.deliver(detached, webhook_url(live))[0].status_code == 200
    assert live.get("/v1/me/autopay", as_=ACCOUNT).json()["active"] is False
    add_bill(live, ACCOUNT, "ST-INV-4", "40.00", due_in_days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0}


def test_a_card_removed_or_updated_in_stripe_reaches_the_mandate(live, stripe_emu):
    mandate, method = save_card(live, stripe_emu, "visa")
    elect(live, mandate)
    [updated] = stripe_emu.card_updated(method, last4="1881", exp_year=2032)
    assert stripe_emu.deliver(updated, webhook_url(live))[0].status_code == 200
    [listed] = live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"]
    assert listed["payment_method"]["last4"] == "1881"
    assert listed["payment_method"]["expiry"] == "12/2032"
    [removed] = stripe_emu.customer_removes_card(method)
    assert stripe_emu.deliver(removed, webhook_url(live))[0].status_code == 200
    [listed] = live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"]
    assert listed["status"] == "revoked"
    assert live.get("/v1/me/autopay", as_=ACCOUNT).json()["active"] is False
