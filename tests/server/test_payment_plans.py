"""Payment plans over HTTP: made from chosen items or an amount, refused with each bad field
named, the items taken over no longer payable alone, rescheduled (audited), cancelled (the
items reopen with what the plan received), changes above the threshold approved by a second
person, who may do what, a repeat with its Idempotency-Key making no second plan, and money
taken back from what a plan covers staying owed through the plan."""

from __future__ import annotations

import datetime as dt

import pytest
from support.api import api, fields  # noqa: F401 - fixture

from loket.core import audit
from loket.core.host import plans
from loket.core.host.plan_schedule import add_months
from loket.core.payments import approvals

BILLS = [{"kind": "bill", "reference": "INV-2025-001234"},
         {"kind": "bill", "reference": "INV-2025-001567"}]


def _future(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def _plan(api, role="recovery_executive", **terms):
    body = {"account_number": "WU-10001", "installments": 3, "frequency": "monthly",
            "first_due_on": _future(10), "items": BILLS, **terms}
    body = {key: value for key, value in body.items() if value is not None}
    return api.post("/v1/payment-plans", body, role=role)


def _pay(api, reference, amount, role="recovery_executive"):
    return api.post(f"/v1/payment-plans/{reference}/payments", {
        "method": "cash", "amount_received": amount, "paid_on": dt.date.today().isoformat()},
        role=role)


def test_a_plan_for_an_amount_with_a_down_payment_due_today(api):
    made = _plan(api, items=None, amount="100.00", down_payment="10.00", installments=4,
                 frequency="weekly", reference="PP-DEBT-7")
    assert made.status_code == 201, made.text
    plan = made.json
    assert (plan["reference"], plan["items"]) == ("PP-DEBT-7", [])
    schedule = [(i["due_date"], i["amount"]["decimal"], i["period"]) for i in plan["schedule"]]
    first = dt.date.fromisoformat(_future(10))
    assert schedule == [(dt.date.today().isoformat(), "10.00", "down payment")] + [
        ((first + dt.timedelta(weeks=n)).isoformat(), "22.50", f"{n + 1}/4") for n in range(4)]
    assert plan["next_due"]["amount"]["decimal"] == "10.00"
    assert sum(i["amount"]["amount"] for i in plan["schedule"]) == 10000


def test_bad_terms_are_refused_naming_each_field(api):
    assert fields(api.post("/v1/payment-plans", {}, role="recovery_executive")) >= {
        "account_number", "installments", "first_due_on"}
    both = _plan(api, amount="50.00")
    assert both.status_code == 422 and fields(both) == {"items"}
    past = _plan(api, first_due_on="2020-01-01")
    assert fields(past) == {"first_due_on"}
    assert fields(_plan(api, installments=500)) == {"installments"}
    foreign = _plan(api, items=[{"kind": "bill", "reference": "BILL7890"}])
    assert fields(foreign) == {"items[0]"} and "WU-10001" in foreign.text
    down = _plan(api, items=None, amount="30.00", down_payment="30.00")
    assert fields(down) == {"down_payment"}
    assert _plan(api, account_number="NOPE-1").status_code == 404
    assert api.get("/v1/payment-plans?status=active").json["total"] == 1  # the demo's only


def test_items_in_a_plan_are_paid_through_it_and_the_plan_completes(api):
    plan = _plan(api, installments=2).json
    alone = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": dt.date.today().isoformat(), "amount_received": "145.50",
        "references": ["INV-2025-001234"]})
    assert alone.status_code == 422 and "payment plan" in alone.text
    resent = api.post("/v1/host/receivables", {  # the host syncs the bill again
        "account_number": "WU-10001", "kind": "bill", "reference": "INV-2025-001234",
        "amount": "145.50", "due_date": "2025-02-15"}, role="billing_manager")
    assert resent.status_code in (200, 201), resent.text
    assert {i["reference"]: i["status"] for i in api.get(
        f"/v1/payment-plans/{plan['reference']}").json["items"]}["INV-2025-001234"] == "in_plan"
    assert _pay(api, plan["reference"], "100.00").status_code == 201
    assert _pay(api, plan["reference"], "200.00").status_code == 201  # 2.25 over: credit note
    done = api.get(f"/v1/payment-plans/{plan['reference']}").json
    assert (done["remaining"]["decimal"], done["paid"]["decimal"]) == ("0.00", "297.75")
    assert done["next_due"] is None
    again = _pay(api, plan["reference"], "1.00")
    assert again.status_code == 409


def test_a_reschedule_spreads_what_is_left_and_is_audited(api):
    plan = _plan(api).json  # 297.75: 99.25 x 3
    reference = plan["reference"]
    assert _pay(api, reference, "120.00").status_code == 201  # 99.25 + 20.75 of the second
    moved = api.post(f"/v1/payment-plans/{reference}/reschedule", {
        "installments": 2, "frequency": "biweekly", "first_due_on": _future(30),
        "reason": "lost his job"}, role="recovery_executive")
    assert moved.status_code == 200, moved.text
    schedule = [(i["sequence"], i["amount"]["decimal"], i["status"])
                for i in moved.json["schedule"]]
    assert schedule == [(1, "99.25", "paid"), (2, "20.75", "paid"), (3, "99.25", "cancelled"),
                        (4, "88.88", "open"), (5, "88.87", "open")]
    assert moved.json["remaining"]["decimal"] == "177.75"
    trail = api.get(f"/v1/audit/payment_plan/{reference}", role="tenant_admin").json["items"]
    assert [a["action"] for a in trail] == ["plan.created", "plan.rescheduled"]
    assert trail[1]["actor"] == "test recovery_executive"
    assert trail[1]["after"]["reason"] == "lost his job"


def test_a_cancelled_plan_reopens_its_items_with_what_it_received(api):
    plan = _plan(api).json
    reference = plan["reference"]
    assert _pay(api, reference, "150.00").status_code == 201
    cancelled = api.post(f"/v1/payment-plans/{reference}/cancel", {"reason": "asked"},
                         role="recovery_executive")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json["status"], cancelled.json["compliance"]) == ("cancelled", None)
    assert [i["status"] for i in cancelled.json["schedule"]] == ["paid", "paid", "cancelled"]
    assert {i["reference"]: i["status"] for i in cancelled.json["items"]} == {
        "INV-2025-001234": "paid", "INV-2025-001567": "open"}
    owed = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": dt.date.today().isoformat(), "amount_received": "147.75",
        "references": ["INV-2025-001567"]})
    assert owed.status_code == 201, owed.text  # 152.25 less the 4.50 the plan received
    assert owed.json["amount_analysis"]["result"] == "exact"
    assert api.post(f"/v1/payment-plans/{reference}/cancel", {},
                    role="recovery_executive").status_code == 409


def test_a_plan_change_above_the_threshold_waits_for_a_second_person(api):
    assert api.put("/v1/settings", {"approvals": {"plan_change_above": "200.00"}}
                   ).status_code == 200
    small = _plan(api, items=None, amount="150.00")
    assert small.status_code == 201
    asked = _plan(api)
    assert asked.status_code == 202, asked.text
    approval = asked.json["approval"]
    assert (approval["kind"], approval["payment"], approval["amount"]["decimal"]) == (
        "plan_change", None, "297.75")
    assert api.get("/v1/payment-plans?account=WU-10001&status=active").json["total"] == 2
    path = f"/v1/approvals/{approval['id']}"
    assert api.post(f"{path}/approve", {}, role="recovery_executive").status_code == 403
    done = api.post(f"{path}/approve", {"note": "ok"}, role="cso_admin")
    assert done.status_code == 200, done.text
    reference = done.json["result"]["plan"]
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert (plan["created_by"], plan["amount"]["decimal"]) == ("test cso_admin", "297.75")
    cancel = api.post(f"/v1/payment-plans/{reference}/cancel", {}, role="recovery_executive")
    assert cancel.status_code == 202
    assert api.get(f"/v1/payment-plans/{reference}").json["status"] == "active"


@pytest.mark.parametrize("role,allowed", [
    ("recovery_executive", True), ("billing_manager", True), ("cso_admin", True),
    ("customer_executive", False), ("cso_executive", False), ("consumer", False)])
def test_who_makes_plans_and_takes_money_against_them(api, role, allowed):
    made = _plan(api, role=role)
    assert (made.status_code == 201) is allowed, made.text
    paid = _pay(api, "PP-2025-0034", "67.50", role=role)
    assert (paid.status_code == 201) is allowed, paid.text
    assert (api.get("/v1/payment-plans", role=role).status_code == 200) is (role != "consumer")


def test_a_repeat_of_a_plan_whose_answer_was_lost_returns_that_plan(api):
    # The first request made its plan, but its answer was never stored (the server died
    # between the commit and the response): the repeat is handed to the engine with its
    # key, which knows the plan it made.
    body = {"account_number": "WU-10001", "amount": "100.00", "installments": 2,
            "frequency": "monthly", "first_due_on": _future(10)}
    actor = audit.Actor("test recovery_executive", "recovery_executive", api.tenant_id)
    with api.ctx.transaction() as session:
        made = approvals.change_plan(api.ctx, session, actor, api.tenant_id,
                                     {"action": "create", **body}, idempotency_key="plan-1")
        reference = made.reference
    count = api.get("/v1/payment-plans").json["total"]
    again = api.post("/v1/payment-plans", body, role="recovery_executive",
                     headers={"Idempotency-Key": "plan-1"})
    assert again.status_code == 201, again.text
    assert again.json["reference"] == reference
    assert api.get("/v1/payment-plans").json["total"] == count


def _balance(api) -> int:
    return api.get("/v1/consumers/WU-10001").json["balance"]["amount"]


@pytest.mark.parametrize("reverse", ["refund", "cancel"])
def test_money_taken_back_from_an_item_a_plan_took_over_is_owed_through_the_plan(api, reverse):
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": dt.date.today().isoformat(), "amount_received": "50.00",
        "references": ["INV-2025-001234"]})
    assert paid.status_code == 201, paid.text
    number = paid.json["information"]["number"]
    plan = _plan(api, installments=2).json
    reference = plan["reference"]
    assert plan["amount"]["decimal"] == "247.75"  # what the two bills still owe
    before = _balance(api)
    if reverse == "refund":
        taken = api.post(f"/v1/payments/{number}/refunds", {"amount": "50.00"},
                         role="billing_manager")
    else:
        taken = api.post(f"/v1/payments/{number}/cancel", {"reason": "bounced cheque"},
                         role="tenant_admin")
    assert taken.status_code in (200, 201), taken.text
    after = api.get(f"/v1/payment-plans/{reference}").json
    assert (after["status"], after["amount"]["decimal"], after["remaining"]["decimal"]) == (
        "active", "297.75", "297.75")
    first = dt.date.fromisoformat(_future(10))
    added = after["schedule"][-1]  # one period after the last installment
    assert (added["sequence"], added["amount"]["decimal"], added["due_date"], added["period"]) \
        == (3, "50.00", add_months(first, 2).isoformat(), "owed again")
    assert _balance(api) == before + 5000
    (todo,) = [t for t in api.get("/v1/todos").json["items"] if t["kind"] == "plan.owed_again"]
    assert todo["entity_id"] == reference and "50.00" in todo["title"]
    feed = api.get("/v1/host/events", role="tenant_admin").json["items"]
    told = [e["data"] for e in feed if e["type"] == "plan.rescheduled"]
    assert [d["plan"]["reference"] for d in told] == [reference]
    assert told[0]["reason"].startswith("50.00 owed again")
    assert _pay(api, reference, "297.75").status_code == 201
    plans.plan_compliance(api.ctx)
    assert api.get(f"/v1/payment-plans/{reference}").json["status"] == "completed"
    assert _balance(api) == before + 5000 - 29775  # the 50.00 was owed, and paid


def test_a_completed_plan_whose_payment_is_taken_back_is_active_again(api):
    plan = _plan(api, installments=2).json
    reference = plan["reference"]
    paid = _pay(api, reference, "297.75")
    assert paid.status_code == 201, paid.text
    plans.plan_compliance(api.ctx)
    assert api.get(f"/v1/payment-plans/{reference}").json["status"] == "completed"
    cancelled = api.post(f"/v1/payments/{paid.json['information']['number']}/cancel",
                         {"reason": "bounced cheque"}, role="tenant_admin")
    assert cancelled.status_code == 200, cancelled.text
    after = api.get(f"/v1/payment-plans/{reference}").json
    assert (after["status"], after["compliance"], after["remaining"]["decimal"]) == (
        "active", "on_track", "297.75")
    assert [i["status"] for i in after["schedule"]] == ["open", "open"]  # none added
    assert plans.plan_compliance(api.ctx) == {"missed": 0, "defaulted": 0}
    assert _pay(api, reference, "100.00").status_code == 201  # payments are taken again
    trail = api.get(f"/v1/audit/payment_plan/{reference}", role="tenant_admin").json["items"]
    assert [a["action"] for a in trail][-2:] == ["plan.completed", "plan.owed_again"]
