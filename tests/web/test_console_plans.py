"""The payment plan screens: a recovery executive makes a plan, finds it with its
compliance, opens it and cancels it (in a real browser, axe-checked); who sees which
screen and form; errors next to the fields; a change above the threshold waits."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from support.browser import DESKTOP, accessible, open_page, sign_in
from support.console import Person

from loket.server import roles


def _future(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def signed_in(api, role: str) -> Person:
    person = Person(client=api.client)
    credential = api.consumer_token if role == "consumer" else api.keys[role]
    person.follow(person.sign_in(credential))
    return person


@pytest.mark.slow
def test_recovery_executive_makes_finds_and_cancels_a_plan(chromium, live, shots):
    api, base = live
    context, page = open_page(chromium, DESKTOP)
    sign_in(page, base, api.keys["recovery_executive"])
    page.get_by_role("link", name="Payment plans").click()
    page.get_by_role("heading", name="Payment plans").wait_for()
    accessible(page)
    page.get_by_role("link", name="New payment plan").click()
    page.get_by_label("Account number").fill("WU-10001")
    page.get_by_role("button", name="Continue").click()
    accessible(page)
    page.get_by_label(re.compile("INV-2025-001234")).check()
    page.get_by_label("Installments *").fill("3")
    page.get_by_label("Frequency").select_option("monthly")
    page.get_by_label("First due date *").fill("2020-01-01")
    page.get_by_role("button", name="Create plan").click()
    page.get_by_text("The date must not be in the past.").wait_for()
    assert page.get_by_label("First due date *").get_attribute("aria-invalid") == "true"
    accessible(page)
    shots(page, "plan-refused")
    page.get_by_label("First due date *").fill(_future(10))
    page.get_by_role("button", name="Create plan").click()
    page.get_by_text("Payment plan created.").wait_for()
    accessible(page)
    reference = api.get("/v1/payment-plans?account=WU-10001&status=active").json["items"][0]
    assert reference["installments"] == 3 and len(reference["schedule"]) == 3
    reference = reference["reference"]
    page.get_by_role("link", name="Payment plans").click()
    page.get_by_label("Search").fill(reference)
    page.get_by_label("Compliance").select_option("on_track")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row", name=re.compile(reference))
    assert "On track" in row.get_by_test_id("compliance").inner_text()
    accessible(page)
    shots(page, "plans")
    row.get_by_role("link", name=reference).click()
    assert page.get_by_role("row").count() == 4  # the heading and three installments
    page.get_by_role("button", name="Cancel plan").click()  # no reason: the browser stops it
    page.get_by_label("Reason for cancelling *").fill("Paid in full elsewhere")
    page.get_by_role("button", name="Cancel plan").click()
    page.get_by_text("Payment plan cancelled.").wait_for()
    accessible(page)
    shots(page, "plan-cancelled")
    assert api.get(f"/v1/payment-plans/{reference}").json["status"] == "cancelled"
    assert page.get_by_role("button", name="Cancel plan").count() == 0
    context.close()


def test_who_sees_the_plans_and_their_forms(api):
    reference = api.get("/v1/payment-plans").json["items"][0]["reference"]
    assert "consumer" not in roles.allowed("GET", "/v1/payment-plans")
    consumer = signed_in(api, "consumer")
    assert consumer.get("/console/plans").status_code == 403
    assert consumer.get(f"/console/plans/{reference}").status_code == 403
    assert consumer.get("/console/plans/new").status_code == 403
    reader = signed_in(api, "customer_executive")
    assert "customer_executive" not in roles.PLANNERS
    page = reader.get(f"/console/plans/{reference}")
    assert page.status_code == 200 and reference in page.text
    assert "/reschedule" not in page.text and "/cancel" not in page.text
    assert "New payment plan" not in reader.get("/console/plans").text
    assert reader.get("/console/plans/new").status_code == 403
    assert reader.post(f"/console/plans/{reference}/cancel",
                       {"reason": "no"}).status_code == 403
    planner = signed_in(api, "recovery_executive")
    page = planner.get(f"/console/plans/{reference}")
    assert "/reschedule" in page.text and "/cancel" in page.text


def test_a_bad_reschedule_saves_nothing_and_a_big_one_waits(api):
    plan = api.get("/v1/payment-plans").json["items"][0]
    planner = signed_in(api, "recovery_executive")
    planner.get(f"/console/plans/{plan['reference']}")
    bad = planner.post(f"/console/plans/{plan['reference']}/reschedule", {
        "installments": "0", "frequency": "monthly", "first_due_on": "2020-01-01"})
    assert bad.status_code == 422
    assert 'id="err-reschedule-installments"' in bad.text
    assert 'id="err-reschedule-first_due_on"' in bad.text
    assert api.get(f"/v1/payment-plans/{plan['reference']}").json["schedule"] == \
        plan["schedule"]
    assert api.put("/v1/settings", {"approvals": {"plan_change_above": "0.01"}},
                   role="tenant_admin").status_code == 200
    waiting = planner.post(f"/console/plans/{plan['reference']}/reschedule", {
        "installments": "2", "frequency": "monthly", "first_due_on": _future(20)})
    shown = planner.follow(waiting).text
    assert "waits for a second person" in shown
    assert api.get(f"/v1/payment-plans/{plan['reference']}").json["schedule"] == \
        plan["schedule"]
    assert api.get("/v1/approvals").json["items"][0]["kind"] == "plan_change"
