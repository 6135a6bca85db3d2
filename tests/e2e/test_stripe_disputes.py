"""End to end with Stripe disputes, through loket's HTTP API and the Stripe emulator signing
its webhooks: ``charge.dispute.created`` opens loket's dispute by itself, ``updated`` moves
it under review, ``closed`` (lost) takes the money back like a refund — the bills reopen and
the recovery team gets a to-do — and a re-delivered event changes nothing; a dispute the
bank decides for the merchant is won and the money stays."""

from __future__ import annotations

from support.stripe import (  # noqa: F401 - fixtures
    BILLS,
    connect_stripe,
    live,
    pay_on_hosted_page,
    session_events,
    stripe_emu,
)


def _pay_bills(live, emulator, webhook_url) -> tuple[str, str]:
    """The consumer pays the two bills through Stripe; returns (payment number, session)."""
    body = {"gateway": "stripe", "items": [{"kind": "bill", "reference": r} for r in BILLS]}
    started = live.post("/v1/me/checkout", body, "WU-10001")
    assert started.status_code == 201, started.text
    session_id = started.json()["redirect_url"].rsplit("/", 1)[-1]
    pay_on_hosted_page(live, started.json()["redirect_url"])
    [completed] = session_events(emulator, "checkout.session.completed", session_id)
    assert emulator.deliver(completed, webhook_url)[0].status_code == 200
    return started.json()["payment"]["number"], session_id


def _deliver(emulator, events, webhook_url) -> None:
    assert [r.status_code for r in emulator.deliver_all(events, webhook_url)] == \
        [200] * len(events)


def _outstanding(live) -> str:
    return live.get("/v1/me/items?type=bills", as_="WU-10001").json()[
        "total_outstanding"]["decimal"]


def _disputes(live, number) -> list[dict]:
    return live.get(f"/v1/disputes?payment={number}", as_="cso_admin").json()["items"]


def test_stripe_disputes_open_and_close_loket_disputes_by_themselves(live, stripe_emu):
    emulator = stripe_emu
    webhook_url = connect_stripe(live, emulator)["webhook_url"]
    number, session_id = _pay_bills(live, emulator, webhook_url)
    assert _outstanding(live) == "0.00"

    opened = emulator.dispute(session_id, reason="fraudulent")
    _deliver(emulator, opened, webhook_url)  # created, funds_withdrawn (ignored)
    (dispute,) = _disputes(live, number)
    assert (dispute["status"], dispute["amount"]["decimal"], dispute["opened_by"]) == (
        "open", "297.75", "gateway")
    stripe_dispute = emulator.objects[dispute["gateway_reference"]]
    assert stripe_dispute["payment_intent"] == emulator.objects[session_id]["payment_intent"]
    assert "fraudulent" in dispute["reason"]

    _deliver(emulator, emulator.review_dispute(dispute["gateway_reference"]), webhook_url)
    assert _disputes(live, number)[0]["status"] == "under_review"

    closed = emulator.close_dispute(dispute["gateway_reference"], "lost")
    _deliver(emulator, closed, webhook_url)
    _deliver(emulator, closed, webhook_url)  # Stripe re-delivers: nothing moves twice
    (dispute,) = _disputes(live, number)
    assert (dispute["status"], dispute["amount_taken_back"]["decimal"]) == ("lost", "297.75")
    assert [h["status"] for h in dispute["history"]] == ["open", "under_review", "lost"]
    payment = live.get(f"/v1/payments/{number}", as_="cso_admin").json()["information"]
    assert (payment["status"], payment["refunded"]["decimal"]) == ("refunded", "297.75")
    assert _outstanding(live) == "297.75"  # the bills are open again
    todos = live.get("/v1/todos", as_="cso_admin").json()["items"]
    assert [t["kind"] for t in todos if t["entity_id"] == str(dispute["id"])] == [
        "dispute.lost"]

    # The reopened bills are paid again; this time the bank decides for the merchant
    # without asking for evidence (closed straight from needs_response).
    again, session_id = _pay_bills(live, emulator, webhook_url)
    [created, _withdrawn] = emulator.dispute(session_id, reason="product_not_received",
                                             amount=5000)
    _deliver(emulator, [created], webhook_url)
    won = emulator.close_dispute(created["data"]["object"]["id"], "won")
    _deliver(emulator, won, webhook_url)
    (dispute,) = _disputes(live, again)
    assert (dispute["status"], dispute["amount"]["decimal"],
            dispute["amount_taken_back"]["decimal"]) == ("won", "50.00", "0.00")
    assert live.get(f"/v1/payments/{again}", as_="cso_admin").json()["information"][
        "status"] == "succeeded"
    assert _outstanding(live) == "0.00"
    trail = live.get(f"/v1/audit/dispute/{dispute['id']}", as_="cso_admin").json()["items"]
    assert [a["action"] for a in trail] == ["dispute.opened", "dispute.under_review",
                                            "dispute.won"]
