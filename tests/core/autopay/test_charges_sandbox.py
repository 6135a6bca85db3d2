"""Auto-pay end to end over HTTP with the sandbox gateway: a consumer saves a card on the
sandbox's mandate page, elects auto-pay, the host creates a bill, and the periodic job
charges it without the payer when its charge date comes (time moved by the test's clock).
Soft declines are retried on the tenant's schedule, hard ones stop with a to-do and a host
event, and revoking the mandate stops auto-pay."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from support.autopay import add_bill, consumer_token, control_time, new_account, outstanding
from support.e2e import start_loket

from loket import hookimpl
from loket.core.autopay import charges
from loket.core.models import (
    AuditEntry,
    AutopayCharge,
    GatewayConfiguration,
    Mandate,
    Payment,
    Tenant,
)
from loket.core.payments import timeouts
from loket.core.tenants import TokenSigner
from loket.core.webhooks import outcomes
from loket.demo import DEMO_SLUG, load_demo
from loket.errors import GatewayError
from loket.gateways import sandbox_mandates
from loket.money import Money
from loket.types import ChargeOutcome, GatewayEvent, MandateChargeResult

ACCOUNT = "AP-20001"


@pytest.fixture
def live(tmp_path, plugins, request):
    """loket serving the demo tenant (sandbox connected) with a clock the test moves."""
    loket = start_loket(tmp_path, plugins, request)
    keys = load_demo(loket.ctx, TokenSigner(loket.ctx.config.secret_keys[0].encode()))
    loket.keys.update(keys.api_keys)
    with loket.ctx.transaction() as session:
        loket.tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    control_time(loket)
    new_account(loket, ACCOUNT)
    yield loket
    loket.stop()


def save_card(live, card: str) -> str:
    """The consumer starts a mandate and saves a sandbox card of behaviour ``card`` in the
    browser; returns the mandate id."""
    started = live.post("/v1/me/mandates", {"gateway": "sandbox"}, ACCOUNT)
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "pending"
    page = started.json()["redirect_url"]
    assert page.startswith(live.url + "/sandbox/mandate/")
    assert "Save card" in live.http.get(page, timeout=10).text
    back = live.http.post(page, data={"card": card}, timeout=10)
    assert [r.status_code for r in back.history] == [303]
    assert urlsplit(back.url).path == f"/v1/mandate-return/{started.json()['id']}"
    assert back.json()["status"] == "active", back.text
    return started.json()["id"]


def elect(live, mandate: str, kinds=("bill",), max_amount: str | None = "500.00") -> dict:
    answer = live.put("/v1/me/autopay", {"mandate": mandate, "item_kinds": list(kinds),
                                         "max_amount": max_amount}, ACCOUNT)
    assert answer.status_code == 200, answer.text
    return answer.json()


def my_payments(live) -> list[dict]:
    consumer_token(live, ACCOUNT)
    answer = live.get("/v1/me/payments?sort=created_at", as_=ACCOUNT)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def staff_payment(live, number: str) -> dict:
    answer = live.get(f"/v1/payments/{number}", as_="tenant_admin")
    assert answer.status_code == 200, answer.text
    return answer.json()


def host_events(live, kind: str) -> list[dict]:
    with live.ctx.transaction() as session:
        return [row.after for row in session.scalars(select(AuditEntry).where(
            AuditEntry.tenant_id == live.tenant_id, AuditEntry.entity_type == "host_event",
            AuditEntry.action == kind).order_by(AuditEntry.id))]


def test_a_bill_is_paid_without_the_payer_on_its_charge_date(live):
    mandate = save_card(live, "ok")
    [listed] = live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"]
    assert listed["payment_method"] == {"brand": "visa", "last4": "4242", "expiry": "12/2030"}
    staff_view = live.get(f"/v1/consumers/{ACCOUNT}/mandates", as_="tenant_admin")
    assert staff_view.json()["items"][0]["id"] == mandate
    assert elect(live, mandate)["active"] is True
    add_bill(live, ACCOUNT, "AP-INV-1", "120.00", due_in_days=10)

    assert charges.run_due(live.ctx)["scheduled"] == 0  # charged 3 days before it is due
    assert outstanding(live, ACCOUNT, "AP-INV-1") == "120.00"
    live.ctx.clock.advance(days=7)
    done = charges.run_due(live.ctx)
    assert done == {"scheduled": 1, "succeeded": 1}
    assert outstanding(live, ACCOUNT, "AP-INV-1") == "0.00"
    [payment] = my_payments(live)
    assert payment["status"] == "succeeded"
    assert charges.run_due(live.ctx) == {"scheduled": 0}  # run twice: charged once
    assert len(my_payments(live)) == 1
    [attempted] = host_events(live, "autopay.attempted")
    assert attempted["attempt"] == 1 and attempted["outcome"] == "succeeded"


def test_soft_declines_are_retried_on_the_schedule_and_the_third_try_pays(live):
    elect(live, save_card(live, "soft2"))
    add_bill(live, ACCOUNT, "AP-INV-2", "80.00", due_in_days=3)

    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    first = my_payments(live)[0]
    detail = staff_payment(live, first["number"])
    assert detail["information"]["status"] == "failed"
    assert detail["autopay"]["attempt"] == 1
    assert detail["autopay"]["decline_code"] == "insufficient_funds"
    assert detail["autopay"]["next_attempt_at"] == (
        live.ctx.clock.now + dt.timedelta(days=1)).isoformat()
    assert charges.run_due(live.ctx) == {"scheduled": 0}  # not before its next try
    live.ctx.clock.advance(hours=23)
    assert charges.run_due(live.ctx) == {"scheduled": 0}
    live.ctx.clock.advance(hours=1)  # day 1 of the schedule
    assert charges.run_due(live.ctx) == {"scheduled": 0, "retrying": 1}
    live.ctx.clock.advance(days=1)   # day 2: nothing; the schedule says day 3
    assert charges.run_due(live.ctx) == {"scheduled": 0}
    live.ctx.clock.advance(days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "succeeded": 1}
    assert outstanding(live, ACCOUNT, "AP-INV-2") == "0.00"

    payments = my_payments(live)
    assert [p["status"] for p in payments] == ["failed", "failed", "succeeded"]
    attempts = host_events(live, "autopay.attempted")
    assert [(a["attempt"], a["outcome"], a["decline_code"], a["decline_kind"])
            for a in attempts] == [(1, "declined", "insufficient_funds", "soft"),
                                   (2, "declined", "insufficient_funds", "soft"),
                                   (3, "succeeded", None, None)]
    first_try = dt.datetime.fromisoformat(attempts[0]["next_attempt_at"]) - dt.timedelta(days=1)
    assert attempts[1]["next_attempt_at"] == (first_try + dt.timedelta(days=3)).isoformat()
    assert attempts[2]["next_attempt_at"] is None
    assert not host_events(live, "autopay.failed")


def test_a_hard_decline_stops_at_once_with_a_todo_and_the_host_event(live):
    elect(live, save_card(live, "hard"))
    add_bill(live, ACCOUNT, "AP-INV-3", "60.00", due_in_days=2)

    assert charges.run_due(live.ctx) == {"scheduled": 1, "failed": 1}
    live.ctx.clock.advance(days=8)
    assert charges.run_due(live.ctx) == {"scheduled": 0}  # never tried again
    assert outstanding(live, ACCOUNT, "AP-INV-3") == "60.00"
    [payment] = my_payments(live)
    assert payment["status"] == "failed"
    [failed] = host_events(live, "autopay.failed")
    assert failed["decline_code"] == "authentication_required"
    assert failed["receivable"] == "AP-INV-3" and failed["attempts"] == 1
    todos = live.get("/v1/todos", as_="tenant_admin").json()["items"]
    assert any(t["kind"] == "autopay.failed" and "AP-INV-3" in t["title"] for t in todos)
    # the consumer gets a payment link for the item; the host hears of it through the feed
    [link] = live.get("/v1/payment-links", as_="tenant_admin").json()["items"]
    assert link["status"] == "active" and failed["payment_link"] == link["url"]
    feed = live.get("/v1/host/events", as_="tenant_admin").json()["items"]
    [event] = [e for e in feed if e["type"] == "autopay.failed"]
    assert event["data"]["payment_link"] == link["url"]


def test_revoking_the_mandate_stops_auto_pay(live):
    mandate = save_card(live, "ok")
    elect(live, mandate)
    revoked = live.call("DELETE", f"/v1/me/mandates/{mandate}", ACCOUNT)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked", revoked.text
    election = live.get("/v1/me/autopay", as_=ACCOUNT).json()
    assert election["active"] is False and "revoked" in election["stop_reason"]
    assert host_events(live, "autopay.stopped")
    add_bill(live, ACCOUNT, "AP-INV-4", "40.00", due_in_days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0}
    assert outstanding(live, ACCOUNT, "AP-INV-4") == "40.00"
    again = live.call("DELETE", f"/v1/me/mandates/{mandate}", ACCOUNT)
    assert again.status_code == 409


def test_a_mandate_revoked_at_the_gateway_stops_auto_pay(live):
    mandate = save_card(live, "ok")
    elect(live, mandate)
    [listed] = live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"]
    with live.ctx.transaction() as session:
        reference = session.scalar(select(Mandate.gateway_reference).where(
            Mandate.reference == listed["id"]))
    options = {"var_dir": str(live.ctx.config.var_dir)}
    webhook = sandbox_mandates.gateway_ends(options, reference, "expired")
    assert webhook.deliver() == 200
    assert webhook.deliver() == 200  # a duplicate changes nothing
    assert live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"][0]["status"] == "expired"
    assert live.get("/v1/me/autopay", as_=ACCOUNT).json()["active"] is False
    add_bill(live, ACCOUNT, "AP-INV-5", "40.00", due_in_days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0}


def test_a_bill_paid_another_way_before_its_charge_cancels_the_charge(live):
    elect(live, save_card(live, "soft"))
    add_bill(live, ACCOUNT, "AP-INV-6", "30.00", due_in_days=3)
    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    paid = live.post("/v1/payments/counter", {
        "account_number": ACCOUNT, "payment_type": "bill", "method": "cash",
        "amount_received": "30.00", "references": ["AP-INV-6"],
        "paid_on": "2025-01-15"}, "tenant_admin")
    assert paid.status_code == 201, paid.text
    live.ctx.clock.advance(days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "cancelled": 1}
    assert len(my_payments(live)) == 2  # the declined attempt and the counter payment


def test_staff_elect_on_the_consumers_behalf_and_it_is_audited(live):
    mandate = save_card(live, "ok")
    answer = live.put(f"/v1/consumers/{ACCOUNT}/autopay",
                      {"mandate": mandate, "item_kinds": ["bill", "service"]}, "cso_admin")
    assert answer.status_code == 200, answer.text
    with live.ctx.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "autopay.elected")).one()
        assert entry.role == "cso_admin" and entry.entity_id == ACCOUNT
    refused = live.put("/v1/me/autopay", {"mandate": mandate, "item_kinds": ["rent"]}, ACCOUNT)
    assert refused.status_code == 400 or refused.status_code == 422
    assert "item_kinds" in refused.text


def test_auto_pay_is_offered_only_on_gateways_with_mandates(live):
    refused = live.post("/v1/me/mandates", {"gateway": "doku"}, ACCOUNT)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/not-supported")
    assert "DOKU does not support stored mandates" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "gateway"
    assert live.get("/v1/me/mandates", as_=ACCOUNT).json()["items"] == []


def test_an_attempt_cut_short_is_finished_with_the_same_key_and_charges_once(live):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-7", "50.00", due_in_days=1)
    assert charges.schedule_due(live.ctx) == 1
    with live.ctx.transaction() as session:
        [charge_id] = session.scalars(select(AutopayCharge.id)).all()
    # The attempt is recorded and the gateway charged, then the process dies before the
    # answer is written.
    config, request = charges._record_attempt(live.ctx, charge_id)
    first = live.ctx.plugins.mandate_charge(config, request)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "charging": 1}  # too soon to ask
    live.ctx.clock.advance(hours=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "succeeded": 1}
    assert outstanding(live, ACCOUNT, "AP-INV-7") == "0.00"
    [payment] = my_payments(live)
    detail = staff_payment(live, payment["number"])
    assert detail["transaction"]["gateway_reference"] == first.gateway_reference  # one charge
    assert len(my_payments(live)) == 1


def test_a_retry_charges_the_mandate_the_consumer_elected_since(live):
    old = save_card(live, "soft")
    elect(live, old)
    add_bill(live, ACCOUNT, "AP-INV-8", "80.00", due_in_days=3)
    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    new = save_card(live, "ok")
    elect(live, new)  # the consumer moves auto-pay to another card before the retry
    live.ctx.clock.advance(days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "succeeded": 1}
    with live.ctx.transaction() as session:
        charge = session.scalars(select(AutopayCharge)).one()
        assert session.get_one(Mandate, charge.mandate_id).reference == new
    assert outstanding(live, ACCOUNT, "AP-INV-8") == "0.00"


class Unanswered:
    """The sandbox's charges, except that ``lost`` of them are made and their answer lost
    (a timeout: the gateway charged), or, with ``down``, none is made or answered."""

    LOKET_CONTRACT = "1.3"

    def __init__(self, lost: int = 0, down: bool = False):
        self.lost, self.down = lost, down

    @hookimpl(tryfirst=True)
    def loket_gateway_mandate_charge(self, config, request):
        if self.down:
            raise GatewayError("the gateway is unreachable", category="network")
        if self.lost:
            self.lost -= 1
            sandbox_mandates.loket_gateway_mandate_charge(config, request)
            raise GatewayError("the gateway did not answer in time", category="timeout")
        return None  # the sandbox answers


def test_an_unanswered_attempt_is_asked_again_under_its_key_not_declined(live):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-9", "50.00", due_in_days=1)
    gateway = Unanswered(lost=2)
    live.ctx.plugins.pm.register(gateway, name="unanswered")
    try:
        assert charges.run_due(live.ctx) == {"scheduled": 1, "charging": 1}
        [payment] = my_payments(live)
        assert payment["status"] == "initiated"  # not failed: the card may be charged
        live.ctx.clock.advance(minutes=11)
        assert charges.run_due(live.ctx) == {"scheduled": 0, "charging": 1}  # lost again
        live.ctx.clock.advance(minutes=11)
        assert charges.run_due(live.ctx) == {"scheduled": 0, "succeeded": 1}
    finally:
        live.ctx.plugins.pm.unregister(gateway)
    assert outstanding(live, ACCOUNT, "AP-INV-9") == "0.00"
    assert [p["status"] for p in my_payments(live)] == ["succeeded"]  # charged once
    with live.ctx.transaction() as session:
        assert session.scalars(select(AutopayCharge)).one().attempts == 1


def test_an_attempt_never_answered_is_left_to_staff_not_charged_again(live):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-10", "50.00", due_in_days=1)
    gateway = Unanswered(down=True)
    live.ctx.plugins.pm.register(gateway, name="unanswered")
    try:
        assert charges.run_due(live.ctx) == {"scheduled": 1, "charging": 1}
        live.ctx.clock.advance(hours=19)
        assert charges.run_due(live.ctx) == {"scheduled": 0, "charging": 1}
        live.ctx.clock.advance(hours=2)
        assert charges.run_due(live.ctx) == {"scheduled": 0, "failed": 1}
        live.ctx.clock.advance(days=3)
        assert charges.run_due(live.ctx) == {"scheduled": 0}
    finally:
        live.ctx.plugins.pm.unregister(gateway)
    todos = live.get("/v1/todos", as_="tenant_admin").json()["items"]
    [todo] = [t for t in todos if t["kind"] == "autopay.outcome_unknown"]
    [payment] = my_payments(live)
    assert payment["number"] in todo["title"]
    assert payment["status"] == "failed"  # not left open: staff have the to-do
    assert not host_events(live, "autopay.failed")  # not told to pay another way


class AnswersPending:
    """The sandbox's charges, except that the first is answered pending (a payment method
    that takes days): the payment's own outcome decides it later."""

    LOKET_CONTRACT = "1.3"

    def __init__(self):
        self.pending = 1

    @hookimpl(tryfirst=True)
    def loket_gateway_mandate_charge(self, config, request):
        if not self.pending:
            return None
        self.pending -= 1
        return MandateChargeResult(outcome=ChargeOutcome.PENDING,
                                   gateway_reference=f"pending-{request.charge_id}")


def payment_ends(live, number: str, event_type: str, category: str = "declined") -> None:
    """The gateway's event for a payment arrives (its webhook, applied)."""
    with live.ctx.transaction() as session:
        payment = session.scalars(select(Payment).where(Payment.number == number)).one()
        config = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
        outcomes.apply_event(live.ctx, session, config, GatewayEvent(
            event_id=f"evt-{number}-{event_type}", type=event_type, payment_id=number,
            amount=Money(payment.amount_received, payment.currency),
            failure_code="insufficient_funds", failure_message="Insufficient funds.",
            failure_category=category))


@pytest.mark.parametrize("outcome,category", [("succeeded", None), ("failed", "declined"),
                                              ("failed", "timeout")])
def test_a_pending_attempt_is_finished_by_its_payments_outcome(live, outcome, category):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-11", "50.00", due_in_days=1)
    gateway = AnswersPending()
    live.ctx.plugins.pm.register(gateway, name="pending")
    try:
        assert charges.run_due(live.ctx) == {"scheduled": 1, "submitted": 1}
        [first] = my_payments(live)
        payment_ends(live, first["number"], f"payment.{outcome}", category or "declined")
        assert charges.run_due(live.ctx) == {"scheduled": 0}
        with live.ctx.transaction() as session:
            charge = session.scalars(select(AutopayCharge)).one()
            assert charge.status == ("succeeded" if outcome == "succeeded" else "retrying")
        live.ctx.clock.advance(days=1)
        assert charges.run_due(live.ctx) == (
            {"scheduled": 0} if outcome == "succeeded" else {"scheduled": 0, "succeeded": 1})
    finally:
        live.ctx.plugins.pm.unregister(gateway)
    assert outstanding(live, ACCOUNT, "AP-INV-11") == "0.00"


def test_a_cancelled_charge_is_scheduled_again_when_auto_pay_resumes(live):
    old = save_card(live, "soft")
    elect(live, old)
    add_bill(live, ACCOUNT, "AP-INV-12", "40.00", due_in_days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    assert live.call("DELETE", f"/v1/me/mandates/{old}", ACCOUNT).status_code == 200
    live.ctx.clock.advance(days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "cancelled": 1}
    consumer_token(live, ACCOUNT)  # the consumer signs in again a day later
    elect(live, save_card(live, "ok"))  # auto-pay again, on another card
    assert charges.run_due(live.ctx) == {"scheduled": 1, "succeeded": 1}
    assert outstanding(live, ACCOUNT, "AP-INV-12") == "0.00"
    with live.ctx.transaction() as session:
        assert session.scalars(select(AutopayCharge)).one().attempts == 2


class Processing(AnswersPending):
    """The first charge is answered pending, and the gateway keeps saying so when asked."""

    @hookimpl(tryfirst=True)
    def loket_gateway_fetch_status(self, config, payment_id, gateway_reference):
        if not (gateway_reference or "").startswith("pending-"):
            return None
        return GatewayEvent(event_id=f"poll:{gateway_reference}", type="payment.pending",
                            raw_status="processing", payment_id=payment_id,
                            gateway_reference=gateway_reference)


def test_a_pending_attempt_is_not_timed_out_and_charged_again(live):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-13", "50.00", due_in_days=1)
    gateway = Processing()
    live.ctx.plugins.pm.register(gateway, name="processing")
    try:
        assert charges.run_due(live.ctx) == {"scheduled": 1, "submitted": 1}
        live.ctx.clock.advance(minutes=61)  # past the payment's expiry: still in flight
        assert timeouts.payment_timeout_sweep(live.ctx) == {}
        live.ctx.clock.advance(days=1)
        assert charges.run_due(live.ctx) == {"scheduled": 0}
        [first] = my_payments(live)
        payment_ends(live, first["number"], "payment.succeeded")  # the debit completes
        assert charges.run_due(live.ctx) == {"scheduled": 0}
    finally:
        live.ctx.plugins.pm.unregister(gateway)
    assert [p["status"] for p in my_payments(live)] == ["succeeded"]  # charged once
    with live.ctx.transaction() as session:
        assert session.scalars(select(AutopayCharge)).one().status == "succeeded"


def test_a_pending_attempt_never_decided_is_left_to_staff(live):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-14", "50.00", due_in_days=1)
    gateway = Processing()
    live.ctx.plugins.pm.register(gateway, name="processing")
    try:
        assert charges.run_due(live.ctx) == {"scheduled": 1, "submitted": 1}
        live.ctx.clock.advance(days=6)
        assert charges.run_due(live.ctx) == {"scheduled": 0}
        live.ctx.clock.advance(days=2)
        assert charges.run_due(live.ctx) == {"scheduled": 0}
        live.ctx.clock.advance(days=3)
        assert charges.run_due(live.ctx) == {"scheduled": 0}  # not charged again
    finally:
        live.ctx.plugins.pm.unregister(gateway)
    [payment] = my_payments(live)
    assert payment["status"] == "failed"
    todos = live.get("/v1/todos", as_="tenant_admin").json()["items"]
    assert [t for t in todos if t["kind"] == "autopay.outcome_unknown"]
    assert not host_events(live, "autopay.failed")
    with live.ctx.transaction() as session:
        assert session.scalars(select(AutopayCharge)).one().status == "failed"


def test_a_charge_scheduled_again_retries_on_the_schedule_from_its_new_attempt(live):
    old = save_card(live, "soft")
    elect(live, old)
    add_bill(live, ACCOUNT, "AP-INV-15", "40.00", due_in_days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    assert live.call("DELETE", f"/v1/me/mandates/{old}", ACCOUNT).status_code == 200
    live.ctx.clock.advance(days=1)
    assert charges.run_due(live.ctx) == {"scheduled": 0, "cancelled": 1}
    live.ctx.clock.advance(days=30)
    consumer_token(live, ACCOUNT)
    elect(live, save_card(live, "soft"))
    assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    assert charges.run_due(live.ctx) == {"scheduled": 0}  # not again the same minute
    with live.ctx.transaction() as session:
        charge = session.scalars(select(AutopayCharge)).one()
        assert charge.next_attempt_at.replace(tzinfo=None) == (
            live.ctx.now() + dt.timedelta(days=1)).replace(tzinfo=None)


class Refusing:
    """The gateway refuses every charge with an error of a decline category."""

    LOKET_CONTRACT = "1.3"

    @hookimpl(tryfirst=True)
    def loket_gateway_mandate_charge(self, config, request):
        raise GatewayError("the card was declined", category="declined",
                           gateway_code="do_not_honor")


def test_a_gateway_error_that_is_a_refusal_is_a_soft_decline(live):
    elect(live, save_card(live, "ok"))
    add_bill(live, ACCOUNT, "AP-INV-16", "50.00", due_in_days=1)
    gateway = Refusing()
    live.ctx.plugins.pm.register(gateway, name="refusing")
    try:
        assert charges.run_due(live.ctx) == {"scheduled": 1, "retrying": 1}
    finally:
        live.ctx.plugins.pm.unregister(gateway)
    [payment] = my_payments(live)
    assert payment["status"] == "failed"
