"""A payment made through a destination is recorded under it and charged what its prepare
quoted (fee by person type), one test per built-in destination; payments on behalf record
the payer apart from the account holder; bank debits need an active agreement; what the
gateway's prepare-data hook gathers is kept on the payment."""

from __future__ import annotations

import pytest
from support.api import api, connected_api, problem  # noqa: F401 - fixtures

# destination -> (fields, what it pays)
BUILT_INS = {
    "pay-a-bill": ({"invoice": "INV-2025-001234"}, "145.50"),
    "pay-a-service": ({"service": "SRV-RECON-0001"}, "75.00"),
    "pay-an-installment": ({"installment": "PP-2025-0034-1"}, "67.50"),
    "pay-a-pay-plan": ({"plan_id": "PP-2025-0034"}, "202.50"),
}


def route_with_fee(api, name: str, timeout_days: int) -> None:
    """Give destination ``name`` its own card fee (1% + 0.50, passed to individuals) and
    reconciliation rule; the other destinations keep none."""
    routes = api.get("/v1/settings", role="tenant_admin").json["destinations"]
    routes[name] = {**routes[name],
                    "fee": {"card": {"percent": "1", "fixed": "0.50", "pass_to": ["individual"]}},
                    "reconciliation": {"required": True, "timeout_days": timeout_days}}
    saved = api.put("/v1/settings", {"destinations": routes})
    assert saved.status_code == 200, saved.text


@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_a_destination_payment_is_what_its_prepare_quoted(connected_api, name):
    api = connected_api
    fields, total = BUILT_INS[name]
    route_with_fee(api, name, timeout_days=7)
    body = {"account_number": "WU-10001", "fields": fields, "method": "card"}
    quote = api.post(f"/v1/destinations/{name}/prepare", body).json
    assert quote["total"]["decimal"] == total
    assert quote["fee"]["amount"] > 0 and quote["fee_passed_on"] is True

    started = api.post(f"/v1/destinations/{name}/payments", {**body, "gateway": "sandbox"},
                       role="cso_executive")
    assert started.status_code == 201, started.text
    payment = started.json["payment"]
    assert payment["destination"] == name
    assert payment["fee"] == quote["fee"]
    assert payment["amount_received"] == quote["amount_to_charge"]
    api.payer_acts(started.json["redirect_url"])
    detail = api.get(f"/v1/payments/{payment['number']}").json
    assert detail["information"]["status"] == "succeeded"
    posted = [d for d in detail["destination_details"] if d["state"] == "posted"]
    assert posted and {d["destination"] for d in posted} == {name}
    assert sum(d["amount"]["amount"] for d in posted) == quote["total"]["amount"]


def test_a_business_is_not_charged_a_fee_passed_to_individuals(connected_api):
    api = connected_api
    route_with_fee(api, "pay-a-bill", timeout_days=2)
    assert api.post("/v1/host/consumers", {"account_number": "CRN29391", "name": "Isidro Garcia",
                                           "person_type": "business"},
                    role="billing_manager").status_code == 200
    body = {"account_number": "CRN29391", "fields": {"invoice": "BILL7890"}, "method": "card"}
    quote = api.post("/v1/destinations/pay-a-bill/prepare", body).json
    assert quote["fee_passed_on"] is False
    payment = api.post("/v1/destinations/pay-a-bill/payments",
                       {**body, "gateway": "sandbox"}).json["payment"]
    assert payment["amount_received"] == quote["amount_to_charge"] == quote["total"]


def test_paying_on_behalf_records_the_payer_and_notifies_them(connected_api):
    api = connected_api
    notes: list = []
    api.ctx.plugins.register(_Collector(notes), name="collector")
    try:
        started = api.post("/v1/destinations/pay-a-bill/payments", {
            "account_number": "WU-10001", "fields": {"invoice": "INV-2025-001567"},
            "gateway": "sandbox", "payer": {"name": "Mary Doe", "email": "mary@example.com",
                                            "phone": "+1 555 0199"}}, role="cso_executive")
        assert started.status_code == 201, started.text
        number = started.json["payment"]["number"]
        api.payer_acts(started.json["redirect_url"])
    finally:
        api.ctx.plugins.pm.unregister(name="collector")
    listed = api.get("/v1/payments?account=WU-10001").json["items"]
    row = next(p for p in listed if p["number"] == number)
    assert row["consumer"]["name"] == "John Doe"
    assert row["payer"] == {"name": "Mary Doe", "email": "mary@example.com",
                            "phone": "+1 555 0199"}
    mine = [n for n in notes if n.data.get("payment_id") == number]
    assert mine and all(n.recipients == ("mary@example.com",) for n in mine)
    # The holder paying for themselves is the payer.
    own = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "service", "reference": "SRV-LATE-0001"}]}, role="consumer").json["payment"]
    assert own["payer"]["name"] == "John Doe" and own["payer"]["email"] == "john.doe@example.com"


class _Collector:
    """A notifier plugin that keeps what it is handed."""

    def __init__(self, notes: list):
        self.notes = notes

    from loket import hookimpl

    @hookimpl
    def loket_notify(self, notification):
        """Keep the notification."""
        self.notes.append(notification)


def test_a_bank_debit_needs_an_active_agreement(connected_api):
    api = connected_api
    body = {"account_number": "WU-10001", "fields": {"invoice": "INV-2025-001234"},
            "gateway": "sandbox", "method": "bank_debit"}
    none = api.post("/v1/destinations/pay-a-bill/payments", body)
    assert none.status_code == 409
    assert "no automatic payment agreement" in problem(none)["detail"]
    assert api.post("/v1/host/agreements", {"account_number": "WU-10001", "reference": "AG-77",
                                            "status": "suspended", "reason": "bank returned R01"},
                    role="billing_manager").status_code == 200
    suspended = api.post("/v1/destinations/pay-a-bill/payments", body)
    assert suspended.status_code == 409
    assert ("AG-77 of account WU-10001 is suspended: bank returned R01"
            in problem(suspended)["detail"])
    api.post("/v1/host/agreements", {"account_number": "WU-10001", "reference": "AG-77",
                                     "status": "active"}, role="billing_manager")
    ok = api.post("/v1/destinations/pay-a-bill/payments", body)
    assert ok.status_code == 201, ok.text
    assert ok.json["payment"]["agreement_reference"] == "AG-77"
    card = api.post("/v1/destinations/pay-a-bill/payments",
                    {**body, "method": "card", "fields": {"invoice": "INV-2025-001567"}})
    assert card.json["payment"]["agreement_reference"] is None


def test_external_payment_data_is_kept_and_shown(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer").json
    detail = api.get(f"/v1/payments/{started['payment']['number']}").json
    assert detail["external_payment_data"] == {"payer_name": "John Doe",
                                               "account_number": "WU-10001"}


def test_a_counter_payment_on_behalf_shows_both(api):
    posted = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "amount_received": "120.50", "paid_on": "2025-01-15",
        "payer": {"name": "Rosa Garcia"}})
    assert posted.status_code == 201, posted.text
    info = posted.json["information"]
    assert info["consumer"]["name"] == "Isidro Garcia"
    assert info["payer"] == {"name": "Rosa Garcia", "email": None, "phone": None}
    receipt = api.get(f"/v1/payments/{info['number']}").json["information"]
    assert receipt["payer"]["name"] == "Rosa Garcia"
