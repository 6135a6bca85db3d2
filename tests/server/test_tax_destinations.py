"""The revenue agency's destinations (the ``loket-revenue`` package, installed like any
plugin) over HTTP: receivables with typed attributes; a guest pays a filing period through
the sandbox; each tax processor validates, prepares and applies; a tax form paid before its
DLN exists is held and applied when the host sends the form (a to-do after the timeout); a
deferred destination's payment moves through the service-task states when the monitor runs."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.api import api, connected_api, problem  # noqa: F401 - fixtures
from support.engine import ACTOR
from support.jobs import Clock

from loket import hookimpl
from loket.core.host import receivables
from loket.core.models import Payment, Todo
from loket.core.payments import holds, service_tasks
from loket.money import Money
from loket.types import ResolvedTarget

TAX_ROUTES = {
    "pay-a-filing-period": {"processor": "filing_period",
                            "fields": {"tin": "taxpayer_id", "tax": "tax_type", "period": "period"},
                            "fee": {"card": {"percent": "2", "fixed": "0",
                                             "pass_to": ["individual"]}}},
    "pay-a-collection-notice": {"processor": "collection_notice",
                                "fields": {"contact": "customer_contact_id"}},
    "pay-a-form": {"processor": "form_dln", "fields": {"dln": "dln"}},
    "pay-an-obligation": {"processor": "obligation", "fields": {"obligation": "obligation_id"}},
    "pay-a-tax-role": {"processor": "tax_role", "fields": {"role": "tax_role_id"}},
    "pay-a-tax-form": {"processor": "tax_form", "fields": {"dln": "dln", "amount": "amount"}},
    "pay-a-deferred-period": {"processor": "filing_period", "processing": "deferred",
                              "fields": {"tin": "taxpayer_id", "tax": "tax_type",
                                         "period": "period"},
                              "reconciliation": {"required": True, "timeout_days": 2}},
}

TAX_ITEMS = [
    ("tax_period", "VAT-2026-Q3", "300.00", {"taxpayer_id": "TIN-12345", "tax_type": "VAT",
                                             "period": "2026-Q3"}),
    ("tax_period", "VAT-2026-Q2", "200.00", {"taxpayer_id": "TIN-12345", "tax_type": "VAT",
                                             "period": "2026-Q2"}),
    ("collection_notice", "CN-1", "40.00", {"customer_contact_id": "CC-9"}),
    ("collection_notice", "CN-2", "60.00", {"customer_contact_id": "CC-9"}),
    ("tax_form", "F-1", "80.00", {"dln": "20260012345678"}),
    ("tax_obligation", "OB-1", "90.00", {"obligation_id": "OBL-77"}),
    ("tax_role", "TR-1", "10.00", {"tax_role_id": "ROLE-5"}),
    ("tax_role", "TR-2", "15.00", {"tax_role_id": "ROLE-5"}),
]


@pytest.fixture
def tax_api(connected_api):
    """The connected API with the tax destinations routed and WU-10001's tax items."""
    api = connected_api
    routes = {**api.get("/v1/settings", role="tenant_admin").json["destinations"], **TAX_ROUTES}
    saved = api.put("/v1/settings", {"destinations": routes,
                                     "guest": {"enabled": True, "verify": ["name", "postcode"]}})
    assert saved.status_code == 200, saved.text
    assert api.post("/v1/host/consumers", {"account_number": "WU-10001", "name": "John Doe",
                                           "postcode": "SP1 2AB"},
                    role="billing_manager").status_code == 200
    for kind, reference, amount, attributes in TAX_ITEMS:
        upserted = upsert(api, kind, reference, amount, attributes)
        assert upserted.status_code == 200, upserted.text
    return api


def upsert(api, kind, reference, amount, attributes, account="WU-10001"):
    """The host sends a tax receivable."""
    return api.post("/v1/host/receivables", {"account_number": account, "kind": kind,
                                             "reference": reference, "amount": amount,
                                             "attributes": attributes}, role="billing_manager")


def pay(api, destination, fields, role="cso_executive", **extra):
    """Staff start a sandbox payment of a destination for WU-10001; the payer pays."""
    started = api.post(f"/v1/destinations/{destination}/payments",
                       {"account_number": "WU-10001", "fields": fields, "gateway": "sandbox",
                        **extra}, role=role)
    assert started.status_code == 201, started.text
    api.payer_acts(started.json["redirect_url"])
    return api.get(f"/v1/payments/{started.json['payment']['number']}").json


def posted(detail) -> dict[str, int]:
    return {d["reference"]: d["amount"]["amount"] for d in detail["destination_details"]
            if d["state"] == "posted"}


def test_attributes_are_validated_per_kind(tax_api):
    bad = upsert(tax_api, "tax_period", "VAT-X", "1.00",
                 {"taxpayer_id": "TIN-12345", "tax_type": "VAT", "period": "last year"})
    assert bad.status_code == 422 and "attributes.period" in {e["field"] for e in
                                                              problem(bad)["errors"]}
    missing = upsert(tax_api, "tax_form", "F-9", "1.00", {})
    assert missing.status_code == 422
    unknown = upsert(tax_api, "tax_thing", "Z-1", "1.00", {"x": "y"})
    assert unknown.status_code == 422 and problem(unknown)["errors"][0]["field"] == "kind"
    plain = tax_api.post("/v1/host/receivables", {"account_number": "WU-10001", "kind": "bill",
                                                  "reference": "B-9", "amount": "1.00",
                                                  "attributes": {"dln": "x"}},
                         role="billing_manager")
    assert plain.status_code == 422 and problem(plain)["errors"][0]["field"] == "attributes"


def test_a_guest_identifies_and_pays_a_filing_period(tax_api):
    api = tax_api
    found = api.client.simulate_post("/v1/public/t1/identify", json={
        "account_number": "WU-10001", "facts": {"name": "John Doe", "postcode": "sp1 2ab"}})
    assert found.status_code == 201, found.text
    guest = {"Authorization": f"Bearer {found.json['token']}"}
    started = api.client.simulate_post(
        "/v1/public/t1/guest/destinations/pay-a-filing-period/payments", headers=guest,
        json={"fields": {"tin": "TIN-12345", "tax": "VAT", "period": "2026-Q3"},
              "gateway": "sandbox", "payer": {"name": "Tax Agent Ltd",
                                              "email": "agent@example.com"}})
    assert started.status_code == 201, started.text
    payment = started.json["payment"]
    assert payment["destination"] == "pay-a-filing-period"
    assert payment["fee"]["decimal"] == "6.00" and payment["amount_received"]["decimal"] == "306.00"
    api.payer_acts(started.json["redirect_url"])
    result = api.client.simulate_get(f"/v1/public/t1/guest/payments/{payment['number']}",
                                     headers=guest).json
    assert result["status"] == "succeeded"
    assert [(i["reference"], i["state"]) for i in result["items"]] == [("VAT-2026-Q3", "posted")]
    detail = api.get(f"/v1/payments/{payment['number']}").json
    assert detail["external_payment_data"]["tax_period"] == "2026-Q3"
    assert detail["information"]["payer"]["name"] == "Tax Agent Ltd"


@pytest.mark.parametrize("destination,fields,paid", [
    ("pay-a-filing-period", {"tin": "TIN-12345", "tax": "VAT", "period": "2026-Q2"},
     {"VAT-2026-Q2": 20000}),
    ("pay-a-collection-notice", {"contact": "CC-9"}, {"CN-1": 4000, "CN-2": 6000}),
    ("pay-a-form", {"dln": "20260012345678"}, {"F-1": 8000}),
    ("pay-an-obligation", {"obligation": "OBL-77"}, {"OB-1": 9000}),
    ("pay-a-tax-role", {"role": "ROLE-5"}, {"TR-1": 1000, "TR-2": 1500}),
    ("pay-a-tax-form", {"dln": "20260012345678", "amount": "80.00"}, {"F-1": 8000}),
])
def test_each_tax_processor_validates_prepares_and_applies(tax_api, destination, fields, paid):
    api = tax_api
    body = {"account_number": "WU-10001", "fields": fields}
    valid = api.post(f"/v1/destinations/{destination}/validate", body)
    assert valid.status_code == 200, valid.text
    assert {i["reference"] for i in valid.json["items"]} == set(paid)
    quote = api.post(f"/v1/destinations/{destination}/prepare", {**body, "method": "card"}).json
    assert quote["total"]["amount"] == sum(paid.values())
    detail = pay(api, destination, fields)
    assert detail["information"]["destination"] == destination
    assert detail["information"]["amount_received"] == quote["amount_to_charge"]
    assert posted(detail) == paid
    again = api.post(f"/v1/destinations/{destination}/validate", body)
    assert again.status_code == 422 and "paid" in problem(again)["detail"]


def test_tax_processors_refuse_what_is_not_this_accounts(tax_api):
    api = tax_api
    upsert(api, "tax_obligation", "OB-9", "5.00", {"obligation_id": "OBL-99"}, account="CRN29391")
    theirs = api.post("/v1/destinations/pay-an-obligation/validate",
                      {"account_number": "WU-10001", "fields": {"obligation": "OBL-99"}})
    nowhere = api.post("/v1/destinations/pay-an-obligation/validate",
                       {"account_number": "WU-10001", "fields": {"obligation": "OBL-00"}})
    assert theirs.status_code == nowhere.status_code == 422
    assert problem(theirs)["detail"].replace("99", "00") == problem(nowhere)["detail"]
    wrong = api.post("/v1/destinations/pay-a-filing-period/validate",
                     {"account_number": "WU-10001",
                      "fields": {"tin": "TIN-12345", "tax": "VAT", "period": "Q3"}})
    assert wrong.status_code == 422 and problem(wrong)["errors"][0]["field"] == "period"


def test_a_refused_target_names_the_field_the_caller_sent_not_the_processors(tax_api):
    api = tax_api  # the routes map tin -> taxpayer_id, obligation -> obligation_id
    wrong = api.post("/v1/destinations/pay-a-filing-period/validate",
                     {"account_number": "WU-10001",
                      "fields": {"tin": "bad tin!", "tax": "VAT", "period": "2026-Q3"}})
    unknown = api.post("/v1/destinations/pay-an-obligation/validate",
                       {"account_number": "WU-10001", "fields": {"obligation": "OBL-00"}})
    assert wrong.status_code == unknown.status_code == 422
    assert [e["field"] for e in problem(wrong)["errors"]] == ["tin"]
    assert [e["field"] for e in problem(unknown)["errors"]] == ["obligation"]


def test_a_tax_form_paid_before_its_dln_exists_is_applied_when_it_arrives(tax_api):
    api = tax_api
    dln = "20269999999999"
    body = {"account_number": "WU-10001", "fields": {"dln": dln, "amount": "125.00"}}
    valid = api.post("/v1/destinations/pay-a-tax-form/validate", body).json
    assert valid["held"] is True and valid["items"] == [] and valid["total"]["decimal"] == "125.00"
    quote = api.post("/v1/destinations/pay-a-tax-form/prepare", body).json
    assert quote["amount_to_charge"]["decimal"] == "125.00"
    detail = pay(api, "pay-a-tax-form", {"dln": dln, "amount": "125.00"})
    number = detail["information"]["number"]
    assert detail["information"]["status"] == "succeeded"
    assert detail["processing"]["application_state"] == "held"
    assert posted(detail) == {}
    # The host sends another form, then the right one: the payment is applied with it.
    upsert(api, "tax_form", "F-OTHER", "10.00", {"dln": "20261111111111"})
    assert api.get(f"/v1/payments/{number}").json["processing"]["application_state"] == "held"
    arrived = upsert(api, "tax_form", "F-LATE", "125.00", {"dln": dln})
    assert arrived.status_code == 200, arrived.text
    assert arrived.json["held_payments_applied"] == [number]
    assert arrived.json["status"] == "paid"
    after = api.get(f"/v1/payments/{number}").json
    assert after["processing"]["application_state"] == "applied"
    assert posted(after) == {"F-LATE": 12500}


def test_a_hold_another_upsert_released_meanwhile_is_not_applied_again(tax_api):
    """Two upserts completing one held payment at once (PostgreSQL): the second reads the
    hold while the first, holding the payment's lock, applies it."""
    api = tax_api
    if api.ctx.engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL")
    dln = "20268888888888"
    number = pay(api, "pay-a-tax-form", {"dln": dln, "amount": "125.00"})["information"][
        "number"]
    schemas = api.ctx.plugins.attribute_schemas()

    def arrives(session, reference):
        row = receivables.upsert_receivable(session, ACTOR, api.tenant_id, {
            "account_number": "WU-10001", "kind": "tax_form", "reference": reference,
            "amount": "125.00", "attributes": {"dln": dln}}, schemas)
        return holds.release_matching(api.ctx, session, row)

    second: list = []
    with Session(api.ctx.engine) as first:
        assert arrives(first, "F-LATE") == [number]  # applied; the payment stays locked

        def again():
            with api.ctx.transaction() as session:
                second.append(arrives(session, "F-LATE-AGAIN"))

        racing = threading.Thread(target=again)
        racing.start()
        racing.join(1.0)
        assert racing.is_alive()  # it read the hold as waiting, then waits for the payment
        first.commit()
    racing.join(10)
    assert second == [[]]
    after = api.get(f"/v1/payments/{number}").json
    assert after["processing"]["application_state"] == "applied"
    assert posted(after) == {"F-LATE": 12500}
    with api.ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Todo).where(
            Todo.kind == "payment.apply_failed")) == 0


def _renamed(api, destination: str) -> None:
    """A tenant admin renames a destination (payments held for it keep the old name)."""
    routes = api.get("/v1/settings", role="tenant_admin").json["destinations"]
    routes[f"{destination}-v2"] = routes.pop(destination)
    assert api.put("/v1/settings", {"destinations": routes}).status_code == 200


def _apply_failed(api, number) -> list:
    return [t for t in api.get("/v1/todos").json["items"]
            if t["kind"] == "payment.apply_failed" and t["entity_id"] == number]


def test_a_held_payment_whose_destination_was_renamed_never_blocks_the_hosts_form(tax_api):
    api = tax_api
    dln = "20269999999999"
    number = pay(api, "pay-a-tax-form", {"dln": dln, "amount": "125.00"})["information"][
        "number"]
    _renamed(api, "pay-a-tax-form")
    arrived = upsert(api, "tax_form", "F-LATE", "125.00", {"dln": dln})
    assert arrived.status_code == 200, arrived.text
    assert arrived.json["held_payments_applied"] == []
    assert arrived.json["status"] == "open"
    after = api.get(f"/v1/payments/{number}").json
    assert after["processing"]["application_state"] == "error"
    assert posted(after) == {}
    assert len(_apply_failed(api, number)) == 1


def test_money_taken_for_a_hold_whose_destination_was_renamed_is_an_error_with_a_todo(
        tax_api):
    api = tax_api
    started = api.post("/v1/destinations/pay-a-tax-form/payments", {
        "account_number": "WU-10001", "gateway": "sandbox",
        "fields": {"dln": "20269999999999", "amount": "125.00"}})
    assert started.status_code == 201, started.text
    _renamed(api, "pay-a-tax-form")
    api.payer_acts(started.json["redirect_url"])  # the gateway's webhook is taken (200)
    number = started.json["payment"]["number"]
    after = api.get(f"/v1/payments/{number}").json
    assert after["information"]["status"] == "succeeded"
    assert after["processing"]["application_state"] == "error"
    assert posted(after) == {}
    assert len(_apply_failed(api, number)) == 1


def test_a_held_payment_raises_a_todo_after_the_tenants_timeout(tax_api):
    api = tax_api
    clock = Clock()
    api.ctx.clock = clock
    number = pay(api, "pay-a-tax-form", {"dln": "20268888888888", "amount": "5.00"})[
        "information"]["number"]
    clock.advance(days=2)
    assert holds.overdue_holds(api.ctx) == 0
    clock.advance(days=1, minutes=1)
    assert holds.overdue_holds(api.ctx) == 1
    assert holds.overdue_holds(api.ctx) == 0  # once
    with api.ctx.transaction() as session:
        todo = session.scalar(select(Todo).where(Todo.kind == "payment.hold_timeout"))
        assert todo.entity_id == number and "20268888888888" in todo.title


def test_a_deferred_payment_moves_through_the_service_task_states(tax_api):
    api = tax_api
    detail = pay(api, "pay-a-deferred-period",
                 {"tin": "TIN-12345", "tax": "VAT", "period": "2026-Q3"})
    number = detail["information"]["number"]
    assert detail["information"]["status"] == "succeeded"
    assert detail["information"]["service_task_status"] == "Pending"
    assert posted(detail) == {}  # nothing applied before the monitor runs
    assert service_tasks.monitor(api.ctx) == {"Pending Reconciliation": 1}
    after = api.get(f"/v1/payments/{number}").json
    assert after["information"]["service_task_status"] == "Pending Reconciliation"
    assert posted(after) == {"VAT-2026-Q3": 30000}
    api.settle()
    assert service_tasks.monitor(api.ctx) == {"Complete": 1}
    assert api.get(f"/v1/payments/{number}").json["information"][
        "service_task_status"] == "Complete"
    assert service_tasks.monitor(api.ctx) == {}  # idempotent
    audit = api.get(f"/v1/audit/payment/{number}", role="tenant_admin").json
    moves = [e["after"]["service_task"] for e in audit["items"]
             if e["action"] == "service_task.moved"]
    assert moves == ["In Progress", "Pending Reconciliation", "Complete"]


class _Exploding:
    """A host's own processor that fails to apply (the destination's Error path)."""

    LOKET_CONTRACT = "1"

    @hookimpl
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        """Fail for the obligation processor."""
        if processor == "obligation":
            raise RuntimeError("the tax system is down")


def test_a_deferred_payment_that_cannot_be_applied_ends_in_error_with_a_todo(tax_api):
    api = tax_api
    routes = api.get("/v1/settings", role="tenant_admin").json["destinations"]
    routes["pay-an-obligation"]["processing"] = "deferred"
    api.put("/v1/settings", {"destinations": routes})
    number = pay(api, "pay-an-obligation", {"obligation": "OBL-77"})["information"]["number"]
    api.ctx.plugins.register(_Exploding(), name="exploding")
    try:
        assert service_tasks.monitor(api.ctx) == {"Error": 1}
    finally:
        api.ctx.plugins.pm.unregister(name="exploding")
    detail = api.get(f"/v1/payments/{number}").json
    assert detail["information"]["service_task_status"] == "Error"
    assert detail["processing"]["application_state"] == "error"
    todos = api.get("/v1/todos").json["items"]
    assert any(t["kind"] == "payment.apply_failed" and number in t["title"] for t in todos)


class _HeldAndOpen:
    """A processor that answers a tax form held for its DLN and, as well, the account's
    open bill (a broken contract), and a service that does not exist yet."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_destination_validate(self, processor, ledger, target):
        """Answer a held target for ``tax_form`` with obligations, and one for ``service``."""
        if processor == "tax_form":
            bill = ledger.open_items(target.account_number, "bill")[:1]
            return ResolvedTarget(target, target.account_number, tuple(bill),
                                  hold_key="tax_form:dln=20269999999999",
                                  declared_amount=Money(12500, "USD"))
        if processor == "service":
            return ResolvedTarget(target, target.account_number, (),
                                  hold_key="service:reference=later",
                                  declared_amount=Money(1000, "USD"))
        return None


def _payments(api) -> int:
    with api.ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(Payment))


def test_a_target_both_held_and_open_is_refused_before_anything_is_written(tax_api):
    api = tax_api
    before = _payments(api)
    api.ctx.plugins.register(_HeldAndOpen(), name="held-and-open")
    try:
        # Held for the form and charged for the bill, the bill's money would end on the form.
        started = api.post("/v1/destinations/pay-a-tax-form/payments", {
            "account_number": "WU-10001", "gateway": "sandbox",
            "fields": {"dln": "20269999999999", "amount": "125.00"}})
        # A checkout of items pays what exists: an item answered as held is not open.
        chosen = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
            {"kind": "bill", "reference": "INV-2025-001234"},
            {"kind": "service", "reference": "SRV-RECON-0001"}]}, role="consumer")
    finally:
        api.ctx.plugins.pm.unregister(name="held-and-open")
    assert started.status_code == 500
    assert "never both" in problem(started)["detail"]
    assert chosen.status_code == 422
    assert [e["field"] for e in problem(chosen)["errors"]] == ["items[1].reference"]
    assert _payments(api) == before
