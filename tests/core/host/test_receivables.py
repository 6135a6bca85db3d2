"""The host's upserts over HTTP: money on a receivable stays where it is (a bill that received
money is not cancelled, one in a payment plan keeps its amount and status), an installment
joins only a plan of its own account and one the host schedules, never a bill, and the
installments loket made keep their amount and status; a consumer's e-mail is one address;
and on PostgreSQL two upserts of one new account, receivable or plan at once both succeed,
making one row."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.api import api, fields, problem  # noqa: F401 - fixture
from support.engine import ACTOR, seed

from loket.core.host import receivables
from loket.core.models import AuditEntry, Consumer, PaymentPlan, Receivable


def _bill(api, reference: str, amount: str, **extra):
    return api.post("/v1/host/receivables", {"account_number": "WU-10001", "kind": "bill",
                                             "reference": reference, "amount": amount,
                                             **extra}, role="billing_manager")


def _row(api, reference: str) -> tuple[int, int, str]:
    with api.ctx.transaction() as session:
        row = session.scalar(select(Receivable).where(Receivable.reference == reference))
        return row.amount, row.paid, row.status


def test_a_bill_that_received_money_is_not_cancelled(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "50.00",
        "references": ["INV-2025-001234"]})
    assert paid.status_code == 201, paid.text
    cancelled = _bill(api, "INV-2025-001234", "145.50", status="cancelled")
    assert cancelled.status_code == 422 and fields(cancelled) == {"status"}
    assert "refund" in problem(cancelled)["detail"]
    assert _row(api, "INV-2025-001234") == (14550, 5000, "open")
    closed = _bill(api, "INV-2025-001234", "50.00")  # what the refusal suggests instead
    assert closed.status_code == 200, closed.text
    assert _row(api, "INV-2025-001234") == (5000, 5000, "paid")
    unpaid = _bill(api, "INV-2025-001567", "152.25", status="cancelled")
    assert unpaid.status_code == 200 and unpaid.json["status"] == "cancelled"


def test_a_bill_in_a_plan_keeps_its_amount_and_status(api):
    made = api.post("/v1/payment-plans", {
        "account_number": "WU-10001", "installments": 2, "frequency": "monthly",
        "first_due_on": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
        "items": [{"kind": "bill", "reference": "INV-2025-001567"}]}, role="recovery_executive")
    assert made.status_code == 201, made.text
    raised = _bill(api, "INV-2025-001567", "200.00")
    assert raised.status_code == 422 and fields(raised) == {"amount"}
    assert "cancel the plan" in problem(raised)["detail"]
    cancelled = _bill(api, "INV-2025-001567", "152.25", status="cancelled")
    assert cancelled.status_code == 422 and fields(cancelled) == {"status"}
    both = api.post("/v1/host/receivables/bulk", {"items": [
        {"account_number": "WU-10001", "kind": "bill", "reference": "INV-2025-001567",
         "amount": "100.00", "status": "cancelled"}]}, role="billing_manager")
    assert both.status_code == 422 and fields(both) == {"items[0].amount", "items[0].status"}
    assert _row(api, "INV-2025-001567") == (15225, 0, "in_plan")
    again = _bill(api, "INV-2025-001567", "152.25", due_date="2025-03-20")  # a resend
    assert again.status_code == 200 and again.json["status"] == "in_plan"
    plan = api.get(f"/v1/payment-plans/{made.json['reference']}").json
    assert sum(i["amount"]["amount"] for i in plan["schedule"]) == 15225


def test_an_installment_joins_only_a_plan_of_its_own_account(api):
    joined = api.post("/v1/host/receivables", {
        "account_number": "CRN29391", "kind": "installment", "reference": "X-1",
        "amount": "500.00", "plan": "PP-2025-0034", "sequence": 4}, role="billing_manager")
    assert joined.status_code == 422 and fields(joined) == {"plan"}
    assert "belongs to another account" in problem(joined)["detail"]
    own = api.post("/v1/host/receivables", {
        "account_number": "WU-10001", "kind": "installment", "reference": "PP-2025-0034-4",
        "amount": "67.50", "plan": "PP-2025-0034", "sequence": 4}, role="billing_manager")
    assert own.status_code == 200, own.text
    with api.ctx.transaction() as session:
        assert session.scalar(select(Receivable).where(Receivable.reference == "X-1")) is None


def _staff_plan(api) -> str:
    """A plan staff make of INV-2025-001234 (145.50) in two installments of 72.75; returns
    its reference."""
    made = api.post("/v1/payment-plans", {
        "account_number": "WU-10001", "installments": 2, "frequency": "monthly",
        "first_due_on": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
        "items": [{"kind": "bill", "reference": "INV-2025-001234"}]}, role="recovery_executive")
    assert made.status_code == 201, made.text
    return made.json["reference"]


def _upserts(api) -> int:
    with api.ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "receivable.upserted"))


def test_a_bill_joins_no_plan_and_one_in_a_plan_keeps_only_what_it_received(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": dt.date.today().isoformat(), "amount_received": "40.00",
        "references": ["INV-2025-001234"]})
    assert paid.status_code == 201, paid.text
    reference = _staff_plan(api)
    tagged = _bill(api, "INV-2025-001234", "145.50", plan=reference)
    assert tagged.status_code == 422 and fields(tagged) == {"plan"}, tagged.text
    assert "only by an installment" in problem(tagged)["detail"]
    bulk = api.post("/v1/host/receivables/bulk", {"items": [
        {"account_number": "WU-10001", "kind": "service", "reference": "SRV-NEW-1",
         "amount": "5.00", "plan": "PP-2025-0034"}]}, role="billing_manager")
    assert bulk.status_code == 422 and fields(bulk) == {"items[0].plan"}
    assert _bill(api, "INV-NEW-1", "50.00", plan=reference).status_code == 422
    again = _bill(api, "INV-2025-001234", "145.50")  # the host's sync, as before
    assert again.status_code == 200 and again.json["status"] == "in_plan"
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert plan["amount"]["decimal"] == "105.50"  # what the bill still owed
    cancelled = api.post(f"/v1/payment-plans/{reference}/cancel", {"reason": "asked"},
                         role="recovery_executive")
    assert cancelled.status_code == 200, cancelled.text
    assert _row(api, "INV-2025-001234") == (14550, 4000, "open")  # the 40.00, counted once
    with api.ctx.transaction() as session:
        assert session.scalar(select(Receivable).where(
            Receivable.reference.in_(("INV-NEW-1", "SRV-NEW-1")))) is None


def test_the_installments_loket_made_stay_the_plans_while_it_runs(api):
    reference = _staff_plan(api)
    first = {"account_number": "WU-10001", "kind": "installment", "reference": f"{reference}-1",
             "amount": "72.75"}
    refused = {("amount",): {"amount": "0.01"}, ("status",): {"status": "cancelled"},
               ("amount", "status"): {"amount": "10.00", "status": "cancelled"},
               ("sequence",): {"plan": reference, "sequence": 2},
               ("plan",): {"plan": "PP-2025-0034"}}  # moved to another plan
    for named, change in refused.items():
        sent = api.post("/v1/host/receivables", {**first, **change}, role="billing_manager")
        assert sent.status_code == 422 and fields(sent) == set(named), (change, sent.text)
        bulk = api.post("/v1/host/receivables/bulk", {"items": [{**first, **change}]},
                        role="billing_manager")
        assert fields(bulk) == {f"items[0].{f}" for f in named}, change
    assert "reschedule or cancel the plan" in problem(api.post(
        "/v1/host/receivables", {**first, "status": "cancelled"}, role="billing_manager"))[
        "detail"]
    joined = api.post("/v1/host/receivables", {
        **first, "reference": f"{reference}-9", "plan": reference, "sequence": 9},
        role="billing_manager")  # a new installment of loket's plan
    assert joined.status_code == 422 and fields(joined) == {"plan"}
    upserts = _upserts(api)
    for resent in (first, {**first, "plan": reference, "sequence": 1}):
        sent = api.post("/v1/host/receivables", resent, role="billing_manager")
        assert sent.status_code == 200, sent.text  # as loket holds it: accepted, unchanged
    assert _upserts(api) == upserts
    plan = api.get(f"/v1/payment-plans/{reference}").json
    assert plan["amount"]["decimal"] == "145.50"
    assert [(i["reference"], i["status"]) for i in plan["schedule"]] == [
        (f"{reference}-1", "open"), (f"{reference}-2", "open")]
    own = api.post("/v1/host/receivables", {  # the host's own plan stays the host's
        "account_number": "WU-10001", "kind": "installment", "reference": "PP-2025-0034-3",
        "amount": "67.50", "plan": "PP-2025-0034", "status": "cancelled"},
        role="billing_manager")
    assert own.status_code == 200 and own.json["status"] == "cancelled", own.text


def test_a_plan_of_the_host_that_staff_rescheduled_is_loket_s_to_schedule(api):
    moved = api.post("/v1/payment-plans/PP-2025-0034/reschedule", {
        "installments": 2, "frequency": "monthly", "reason": "asked",
        "first_due_on": (dt.date.today() + dt.timedelta(days=10)).isoformat()},
        role="recovery_executive")  # 202.50: the host's three end, loket makes -4 and -5
    assert moved.status_code == 200, moved.text
    first = {"account_number": "WU-10001", "kind": "installment",
             "reference": "PP-2025-0034-1", "amount": "67.50", "plan": "PP-2025-0034",
             "sequence": 1}
    for change in ({"reference": "PP-2025-0034-4", "amount": "101.25", "sequence": 4,
                    "status": "cancelled"}, {}):  # one of loket's; one the reschedule ended
        sent = api.post("/v1/host/receivables", {**first, **change}, role="billing_manager")
        assert sent.status_code == 422 and fields(sent) == {"status"}, sent.text
    again = api.post("/v1/host/receivables", {**first, "status": "cancelled"},
                     role="billing_manager")
    assert again.status_code == 200, again.text
    plan = api.get("/v1/payment-plans/PP-2025-0034").json
    assert plan["remaining"]["decimal"] == "202.50"


@pytest.mark.parametrize("email", ["john@example.com, eve@example.com",
                                   "john@example.com\r\nBcc: eve@example.com",
                                   "John <john@example.com>", "john"])
def test_a_consumer_email_is_one_address(api, email):
    sent = api.post("/v1/host/consumers", {"account_number": "WU-10001", "name": "John Doe",
                                           "email": email}, role="billing_manager")
    assert sent.status_code == 422 and fields(sent) == {"email"}, sent.text
    with api.ctx.transaction() as session:
        assert session.scalar(select(Consumer.email).where(
            Consumer.account_number == "WU-10001")) == "john.doe@example.com"


def _at_once(ctx, upsert: Callable[[Session, int], object]) -> None:
    """Run ``upsert(session, n)`` in two transactions at once: the second starts while the
    first holds its new row uncommitted, and must wait for it, then succeed."""
    failed: list[Exception] = []
    with Session(ctx.engine) as first:
        upsert(first, 1)

        def second() -> None:
            try:
                with ctx.transaction() as session:
                    upsert(session, 2)
            except Exception as exc:  # noqa: BLE001 - the test reports it
                failed.append(exc)

        racing = threading.Thread(target=second)
        racing.start()
        racing.join(1.0)
        assert racing.is_alive()  # it waits for the first's row
        first.commit()
    racing.join(10)
    assert failed == []


@pytest.mark.postgres
def test_two_upserts_of_one_new_receivable_at_once_make_one_row(pg_ctx):
    tenant_id = seed(pg_ctx)
    data = {"account_number": "WU-10001", "kind": "bill", "reference": "NEW-1"}
    _at_once(pg_ctx, lambda session, n: receivables.upsert_receivable(
        session, ACTOR, tenant_id, {**data, "amount": f"{n}0.00"}))
    with pg_ctx.transaction() as session:
        rows = session.scalars(select(Receivable).where(Receivable.reference == "NEW-1")).all()
        assert [(r.amount, r.status) for r in rows] == [(2000, "open")]  # the later one's


@pytest.mark.postgres
def test_two_upserts_of_one_new_consumer_at_once_make_one_row(pg_ctx):
    tenant_id = seed(pg_ctx)
    _at_once(pg_ctx, lambda session, n: receivables.upsert_consumer(
        session, ACTOR, tenant_id, {"account_number": "NEW-9", "name": f"Payer {n}"}))
    with pg_ctx.transaction() as session:
        assert session.scalars(select(Consumer.name).where(
            Consumer.account_number == "NEW-9")).all() == ["Payer 2"]


@pytest.mark.postgres
def test_two_installments_naming_one_new_plan_at_once_make_one_plan(pg_ctx):
    tenant_id = seed(pg_ctx)
    _at_once(pg_ctx, lambda session, n: receivables.upsert_receivable(
        session, ACTOR, tenant_id, {"account_number": "WU-10001", "kind": "installment",
                                    "reference": f"PP-NEW-{n}", "amount": "10.00",
                                    "plan": "PP-NEW", "sequence": n}))
    with pg_ctx.transaction() as session:
        plan = session.scalars(select(PaymentPlan).where(PaymentPlan.reference == "PP-NEW")).one()
        assert session.scalar(select(func.count()).select_from(Receivable).where(
            Receivable.plan_id == plan.id)) == 2
