"""A payment plan made over HTTP lives through the daily compliance job with the test's
clock: reminded before an installment falls due, one of three paid by a recovery executive,
one missed — at risk while within the grace days, then defaulted — and the host told once.
A defaulted plan paid off afterwards is completed, the host told once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from support.api import make_api
from support.jobs import jctx, jtenant, kit, smtp, todos  # noqa: F401 - fixtures

from loket.core.host import plans
from loket.core.models import AuditEntry, OutboxEvent
from loket.core.settings import load_settings, save_settings

RECOVERY = ["recovery@water.example"]
CONSUMER = "john.doe@example.com"


def _at(ctx, day: str) -> None:
    ctx.clock.now = dt.datetime.fromisoformat(f"{day}T09:00:00+00:00")


def _configure(ctx, tenant_id: int) -> None:
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        document["notifications"] = {"recovery_executives": RECOVERY}
        document["plan_default_after_misses"] = 1
        document["plans"] = {"grace_days": 5, "remind_days_before": 3}
        save_settings(session, tenant_id, document)


def _host_events(ctx, event_type: str) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.count(OutboxEvent.id)).where(
            OutboxEvent.type == event_type, OutboxEvent.kind == "host_event"))


def _kinds(smtp, address):  # noqa: F811 - the fixture's name
    return [m["kind"] for m in smtp.to(address)]


def test_a_plan_of_three_paid_once_then_missed_is_at_risk_then_defaulted_once(
        jctx, jtenant, kit, smtp):  # noqa: F811 - fixtures
    _configure(jctx, jtenant)
    _at(jctx, "2025-06-01")
    api = make_api(jctx, jtenant)
    old = api.post("/v1/payment-plans/PP-2025-0034/cancel", {"reason": "replaced"},
                   role="recovery_executive")  # the demo's host-made plan, long overdue
    assert old.json["status"] == "cancelled", old.text
    made = api.post("/v1/payment-plans", {
        "account_number": "WU-10001", "installments": 3, "frequency": "monthly",
        "first_due_on": "2025-06-15",
        "items": [{"kind": "bill", "reference": "INV-2025-001234"},
                  {"kind": "bill", "reference": "INV-2025-001567"},
                  {"kind": "service", "reference": "SRV-LATE-0001"}]},
        role="recovery_executive")
    assert made.status_code == 201, made.text
    plan = made.json
    reference = plan["reference"]
    assert reference == "PP-2025-0001"
    # 145.50 + 152.25 + 25.00 = 322.75 in three: the left-over cent goes to the first
    assert [(i["due_date"], i["amount"]["decimal"]) for i in plan["schedule"]] == [
        ("2025-06-15", "107.59"), ("2025-07-15", "107.58"), ("2025-08-15", "107.58")]
    assert (plan["amount"]["amount"], plan["compliance"]) == (32275, "on_track")
    assert {i["status"] for i in plan["items"]} == {"in_plan"}

    _at(jctx, "2025-06-12")  # three days before the first due date: the consumer is reminded
    assert plans.plan_compliance(jctx) == {"missed": 0, "defaulted": 0}
    assert _kinds(smtp, CONSUMER) == ["plan.installment_due"]
    assert "107.59" in smtp.to(CONSUMER)[0]["body"]

    _at(jctx, "2025-06-14")
    paid = api.post(f"/v1/payment-plans/{reference}/payments", {
        "method": "cash", "amount_received": "107.59", "paid_on": "2025-06-14"},
        role="recovery_executive")
    assert paid.status_code == 201, paid.text
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert (plan["paid"]["decimal"], plan["remaining"]["decimal"]) == ("107.59", "215.16")
    assert [i["status"] for i in plan["schedule"]] == ["paid", "open", "open"]
    assert plan["next_due"]["due_date"] == "2025-07-15"

    _at(jctx, "2025-07-16")  # the second installment is overdue, within the 5 grace days
    assert plans.plan_compliance(jctx) == {"missed": 0, "defaulted": 0}
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert (plan["compliance"], plan["overdue_installments"]) == ("at_risk", 1)
    listed = api.get("/v1/payment-plans?compliance=at_risk").json["items"]
    assert [p["reference"] for p in listed] == [reference]
    assert api.get("/v1/payment-plans?compliance=on_track").json["items"] == []
    assert _kinds(smtp, CONSUMER)[-1] == "plan.installment_overdue"
    assert kit.recorder.defaulted == [] and _host_events(jctx, "plan.defaulted") == 0

    _at(jctx, "2025-07-21")  # still unpaid past the grace days: missed, and the limit is 1
    assert plans.plan_compliance(jctx) == {"missed": 1, "defaulted": 1}
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert (plan["status"], plan["compliance"], plan["missed_installments"]) == (
        "defaulted", "defaulted", 1)
    assert [p["reference"] for p in api.get(
        "/v1/payment-plans?compliance=defaulted").json["items"]] == [reference]
    (todo,) = todos(jctx, "plan.installment_missed")
    assert todo.entity_id == reference
    assert _kinds(smtp, RECOVERY[0]) == ["plan.installment_missed", "plan.defaulted"]

    for day in ("2025-07-22", "2025-08-20"):  # later runs default nothing again
        _at(jctx, day)
        assert plans.plan_compliance(jctx) == {"missed": 0, "defaulted": 0}
    assert _host_events(jctx, "plan.defaulted") == 1
    (defaulted,) = kit.recorder.defaulted
    assert (defaulted.reference, defaulted.account_number) == (reference, "WU-10001")
    feed = api.get("/v1/host/events", role="tenant_admin").json["items"]
    (event,) = [e for e in feed if e["type"] == "plan.defaulted"]
    assert event["data"]["plan"]["reference"] == reference
    assert _kinds(smtp, CONSUMER).count("plan.installment_overdue") == 1


def test_a_defaulted_plan_paid_off_is_completed_once(jctx, jtenant):
    _configure(jctx, jtenant)
    _at(jctx, "2025-06-01")
    api = make_api(jctx, jtenant)
    made = api.post("/v1/payment-plans", {
        "account_number": "WU-10001", "amount": "100.00", "installments": 2,
        "frequency": "monthly", "first_due_on": "2025-06-05"}, role="recovery_executive")
    assert made.status_code == 201, made.text
    reference = made.json["reference"]
    _at(jctx, "2025-06-20")  # the first installment missed past the 5 grace days
    plans.plan_compliance(jctx)
    assert api.get(f"/v1/payment-plans/{reference}").json["status"] == "defaulted"

    paid = api.post(f"/v1/payment-plans/{reference}/payments", {
        "method": "cash", "amount_received": "100.00", "paid_on": "2025-06-20"},
        role="recovery_executive")
    assert paid.status_code == 201, paid.text
    for day in ("2025-06-21", "2025-06-22"):  # the second run finds nothing to do
        _at(jctx, day)
        plans.plan_compliance(jctx)
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert (plan["status"], plan["remaining"]["decimal"]) == ("completed", "0.00")
    assert _host_events(jctx, "plan.completed") == 1
    with jctx.transaction() as session:
        (completed,) = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "plan.completed", AuditEntry.entity_id == reference))
        assert (completed.before, completed.after) == ({"status": "defaulted"},
                                                       {"status": "completed"})
