"""A payment plan form sent twice (a double click, a reload of the answer) makes one plan,
or asks for one approval above the threshold: the forms carry a key, as the API's
Idempotency-Key. A reason keeps to the API's limit. The amounts are read as the console
writes them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from support.console import Person
from support.forms import banner, field_message


def signed_in(api) -> Person:
    person = Person(client=api.client)
    person.follow(person.sign_in(api.keys["recovery_executive"]))
    return person


def future(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def plans(api) -> list[dict]:
    return api.get("/v1/payment-plans", query_string="account=WU-10001&limit=100").json["items"]


def send_twice(person: Person, path: str, fields: dict) -> list:
    """Submit the form of the page shown, then the same form again."""
    page = person.page
    first = person.post(path, fields)
    person.page = page
    return [first, person.post(path, fields)]


PLAN = {"account_number": "WU-10001", "amount": "100.00", "installments": "2",
        "frequency": "monthly"}


def test_a_double_submitted_new_plan_makes_one_plan(api):
    before = {p["reference"] for p in plans(api)}
    planner = signed_in(api)
    planner.get("/console/plans/new", query_string="account=WU-10001")
    assert 'name="form_key"' in planner.page
    sent = send_twice(planner, "/console/plans/new", {**PLAN, "first_due_on": future(10)})
    assert [s.status_code for s in sent] == [303, 303]
    assert sent[0].headers["location"] == sent[1].headers["location"]
    made = [p for p in plans(api) if p["reference"] not in before]
    assert len(made) == 1 and made[0]["amount"]["decimal"] == "100.00"


def test_a_double_submitted_plan_above_the_threshold_asks_once(api):
    assert api.put("/v1/settings", {"approvals": {"plan_change_above": "50.00"}}
                   ).status_code == 200
    count = len(plans(api))
    planner = signed_in(api)
    planner.get("/console/plans/new", query_string="account=WU-10001")
    sent = send_twice(planner, "/console/plans/new", {**PLAN, "first_due_on": future(10)})
    assert [s.headers["location"] for s in sent] == ["/console/plans?done=waiting"] * 2
    waiting = api.get("/v1/approvals", role="tenant_admin").json["items"]
    assert [a["kind"] for a in waiting] == ["plan_change"] and len(plans(api)) == count


def test_a_double_submitted_reschedule_asks_once(api):
    reference = plans(api)[0]["reference"]
    assert api.put("/v1/settings", {"approvals": {"plan_change_above": "0.01"}}
                   ).status_code == 200
    planner = signed_in(api)
    planner.get(f"/console/plans/{reference}")
    assert planner.page.count('name="form_key"') == 2  # the reschedule and cancel forms
    sent = send_twice(planner, f"/console/plans/{reference}/reschedule", {
        "installments": "3", "frequency": "monthly", "first_due_on": future(20)})
    assert [s.status_code for s in sent] == [303, 303]
    assert len(api.get("/v1/approvals", role="tenant_admin").json["items"]) == 1


def test_a_reason_past_the_apis_limit_is_named_and_the_plan_is_unchanged(api):
    plan = plans(api)[0]
    planner = signed_in(api)
    planner.get(f"/console/plans/{plan['reference']}")
    refused = planner.post(f"/console/plans/{plan['reference']}/cancel", {"reason": "r" * 2001})
    assert refused.status_code == 422
    assert 'id="err-cancel-reason"' in refused.text
    assert "Too long: at most 2000 characters." in refused.text
    assert api.get(f"/v1/payment-plans/{plan['reference']}").json["status"] == plan["status"]


def test_a_refused_plan_is_said_in_the_tenants_language_under_its_fields(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    planner = signed_in(api)
    planner.get("/console/plans/new", query_string="account=WU-10001")
    refused = planner.post("/console/plans/new", {**PLAN, "installments": "0",
                                                  "first_due_on": "2020-01-01"})
    assert refused.status_code == 422
    assert banner(refused.text) == "Perbaiki isian yang ditandai."
    assert field_message(refused.text, "first_due_on") == "Tanggal tidak boleh di masa lalu."
    assert field_message(refused.text, "installments").startswith("Dari 1 sampai ")
    assert "must not be in the past" not in refused.text
    assert 'value="100.00"' in refused.text  # what was typed stays


@pytest.mark.parametrize(("locale", "amount", "down"), [
    ("id_ID", "250,50", "50,25"), ("id_ID", "US$ 250,50", "50.25"),
    ("en_US", "250.50", "$50.25")])
def test_a_plans_amounts_are_read_as_the_console_writes_them(api, locale, amount, down):
    assert api.put("/v1/settings", {"locale": locale}).status_code == 200
    before = {p["reference"] for p in plans(api)}
    planner = signed_in(api)
    page = planner.get("/console/plans/new", query_string="account=WU-10001")
    assert re.search(r'id="down_payment"[^>]*placeholder="(mis\. 1\.500,00|e\.g\. '
                     r'1,500\.00)"', page.text)
    made = planner.post("/console/plans/new", {**PLAN, "amount": amount, "down_payment": down,
                                               "first_due_on": future(10)})
    assert made.status_code == 303, banner(made.text)
    (plan,) = [p for p in plans(api) if p["reference"] not in before]
    assert plan["amount"]["amount"] == 25050 and plan["down_payment"]["amount"] == 5025


def test_a_plans_amount_the_console_cannot_read_is_named_in_its_language(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    before = plans(api)
    planner = signed_in(api)
    planner.get("/console/plans/new", query_string="account=WU-10001")
    refused = planner.post("/console/plans/new", {**PLAN, "amount": "250,50",
                                                  "down_payment": "50,2,5",
                                                  "first_due_on": future(10)})
    assert refused.status_code == 422
    assert banner(refused.text) == "Perbaiki isian yang ditandai."
    assert field_message(refused.text, "down_payment") == \
        "Uang muka: ini bukan jumlah uang. Tulis seperti 1.500,00 atau 1500."
    assert 'value="50,2,5"' in refused.text and plans(api) == before
