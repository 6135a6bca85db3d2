"""Guest payments over HTTP: identify without credentials, pay with the payer token, see
only what it paid; wrong facts are refused without saying which; attempts are audited and
rate limited per source."""

from __future__ import annotations

from sqlalchemy import select
from support.api import api, connected_api, problem  # noqa: F401 - fixtures

from loket.core.models import AuditEntry

IDENTIFY = "/v1/public/t1/identify"
RIGHT = {"name": "  john DOE ", "last_bill_amount": "152.25"}


def enable(api, **rules) -> None:
    """Turn guest payments on for the tenant."""
    saved = api.put("/v1/settings", {"guest": {"enabled": True, **rules}})
    assert saved.status_code == 200, saved.text


def identify(api, account="WU-10001", facts=None, source="10.0.0.1"):
    """POST identify from ``source`` with no credentials."""
    return api.client.simulate_post(IDENTIFY, json={"account_number": account,
                                                    "facts": facts or RIGHT},
                                    remote_addr=source)


def as_guest(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_guest_identifies_pays_and_sees_only_what_it_paid(connected_api):
    api = connected_api
    enable(api)
    found = identify(api)
    assert found.status_code == 201, found.text
    assert found.json["account"] == {"account_number": "WU-10001", "name": "John Doe"}
    token = found.json["token"]
    items = api.client.simulate_get("/v1/public/t1/guest/items", headers=as_guest(token)).json
    assert items["account"]["name"] == "John Doe"
    assert "email" not in items["account"] and "phone" not in str(items)
    assert {i["reference"] for i in items["items"]} >= {"INV-2025-001234"}

    started = api.client.simulate_post("/v1/public/t1/guest/checkout", headers=as_guest(token),
                                       json={"gateway": "sandbox",
                                             "items": [{"kind": "bill",
                                                        "reference": "INV-2025-001234"}],
                                             "payer": {"name": "Neighbour Ned",
                                                       "email": "ned@example.com"}})
    assert started.status_code == 201, started.text
    number = started.json["payment"]["number"]
    api.payer_acts(started.json["redirect_url"])
    api.settle()
    result = api.client.simulate_get(f"/v1/public/t1/guest/payments/{number}",
                                     headers=as_guest(token)).json
    assert result["status"] == "completed"
    assert result["payer"]["name"] == "Neighbour Ned"
    assert [i["reference"] for i in result["items"]] == ["INV-2025-001234"]
    receipt = api.client.simulate_get(f"/v1/public/t1/guest/payments/{number}/receipt",
                                      headers=as_guest(token))
    assert receipt.status_code == 200 and receipt.json["payer"]["email"] == "ned@example.com"
    staff = api.get(f"/v1/payments/{number}").json["information"]
    assert staff["consumer"]["account_number"] == "WU-10001"
    assert staff["payer"]["name"] == "Neighbour Ned"


def test_a_guest_token_reads_nothing_else(connected_api):
    api = connected_api
    enable(api)
    token = identify(api).json["token"]
    # A payment of the same account made by its holder, and another account's payment.
    own = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001567"}]}, role="consumer").json["payment"]
    other = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "amount_received": "120.50", "paid_on": "2025-01-15"}).json["information"]["number"]
    for number in (own["number"], other):
        seen = api.client.simulate_get(f"/v1/public/t1/guest/payments/{number}",
                                       headers=as_guest(token))
        assert seen.status_code == 404
    # The payer token is no consumer token and no API key.
    for path in ("/v1/me", "/v1/me/payments", "/v1/payments", "/v1/consumers/WU-10001"):
        assert api.client.simulate_get(path, headers=as_guest(token)).status_code == 401
    # Another account's item cannot be paid with it.
    stolen = api.client.simulate_post("/v1/public/t1/guest/checkout", headers=as_guest(token),
                                      json={"gateway": "sandbox", "payer": {"name": "X"},
                                            "items": [{"kind": "bill", "reference": "BILL7890"}]})
    assert stolen.status_code == 422
    # Nor can a consumer token act as a payer token.
    assert api.client.simulate_get("/v1/public/t1/guest/items",
                                   headers=as_guest(api.consumer_token)).status_code == 401


def test_wrong_facts_are_refused_without_saying_which(connected_api):
    api = connected_api
    enable(api, attempts=50)
    answers = [identify(api, facts={"name": "John Doe", "last_bill_amount": "1.00"}),
               identify(api, facts={"name": "Jane Doe", "last_bill_amount": "152.25"}),
               identify(api, account="NOBODY-1"),
               identify(api, facts={"name": "John Doe", "last_bill_amount": "a lot"})]
    assert {a.status_code for a in answers} == {401}
    assert len({problem(a)["detail"] for a in answers}) == 1
    assert all("name" not in problem(a)["detail"] and "amount" not in problem(a)["detail"]
               for a in answers)
    missing = identify(api, facts={"name": "John Doe"})
    assert missing.status_code == 422
    assert problem(missing)["errors"][0]["field"] == "facts.last_bill_amount"
    with api.ctx.transaction() as session:
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(("guest.refused", "guest.identified")))).all()
    assert len(audited) == 4 and {a.action for a in audited} == {"guest.refused"}
    assert all("152.25" not in str(a.after) and "Jane" not in str(a.after) for a in audited)


def test_identification_is_rate_limited_per_source(connected_api):
    api = connected_api
    enable(api, attempts=3, window_seconds=600)
    wrong = {"name": "x", "last_bill_amount": "1.00"}
    assert [identify(api, facts=wrong).status_code for _ in range(3)] == [401, 401, 401]
    limited = identify(api)  # even the right facts, from that source
    assert limited.status_code == 429 and limited.headers["retry-after"] == "600"
    assert identify(api, source="10.0.0.2").status_code == 201


def test_guest_payments_are_off_unless_the_tenant_enables_them(api):
    assert identify(api).status_code == 404
    assert api.client.simulate_get("/v1/public/t1/guest/items").status_code == 401


def test_a_payer_token_stops_working_once_guest_payments_are_turned_off(connected_api):
    api = connected_api
    enable(api)
    token = identify(api).json["token"]
    items = "/v1/public/t1/guest/items"
    assert api.client.simulate_get(items, headers=as_guest(token)).status_code == 200
    assert api.put("/v1/settings", {"guest": {"enabled": False}}).status_code == 200
    assert api.client.simulate_get(items, headers=as_guest(token)).status_code == 404
    paying = api.client.simulate_post("/v1/public/t1/guest/checkout", headers=as_guest(token),
                                      json={"gateway": "sandbox", "payer": {"name": "X"},
                                            "items": [{"kind": "bill",
                                                       "reference": "INV-2025-001234"}]})
    assert paying.status_code == 404


def test_a_guest_repeating_a_checkout_with_its_key_gets_the_first_answer(connected_api):
    api = connected_api
    enable(api)
    token = identify(api).json["token"]
    body = {"gateway": "sandbox", "items": [{"kind": "bill", "reference": "INV-2025-001234"}],
            "payer": {"name": "Neighbour Ned"}}

    def checkout(key: str, token: str = token):
        return api.client.simulate_post("/v1/public/t1/guest/checkout", json=body,
                                        headers={**as_guest(token), "Idempotency-Key": key})

    first, again = checkout("g-1"), checkout("g-1")
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    refused = checkout("bad key")
    assert refused.status_code == 422 and problem(refused)["errors"][0]["field"] == \
        "Idempotency-Key"
    # Without a valid payer token the answer is 401 whatever the key: nothing is checked
    # for a caller loket does not know.
    assert checkout("bad key", "not-a-token").status_code == 401
    # Another payer token's key of the same name is its own.
    other = checkout("g-1", identify(api, source="10.0.0.2").json["token"])
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert other.json["payment"]["number"] != first.json["payment"]["number"]
    started = api.get("/v1/payments?q=WU-10001").json["items"]
    assert len(started) == 2


def test_a_guest_checkout_whose_payer_e_mail_is_not_one_address_is_refused(connected_api):
    api = connected_api
    enable(api)
    token = identify(api).json["token"]
    for email in ("ned@example.com, victim1@example.org, victim2@example.net",
                  "ned@example.com\r\nBcc: victim@example.org"):
        refused = api.client.simulate_post("/v1/public/t1/guest/checkout",
                                           headers=as_guest(token), json={
                                               "gateway": "sandbox", "items": [
                                                   {"kind": "bill",
                                                    "reference": "INV-2025-001234"}],
                                               "payer": {"name": "Ned", "email": email}})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in problem(refused)["errors"]] == ["payer.email"]
    assert api.get("/v1/payments?q=WU-10001").json["items"] == []
