"""The ``make run`` demo criterion, end to end over HTTP: the demo loaded into a fresh var
dir and served; with the printed consumer token John Doe pays his two bills through the
sandbox's hosted page like a browser would, and what the two bills owe falls from $297.75 to
$0.00."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from support.e2e import start_loket

from loket.core.tenants import TokenSigner
from loket.demo import load_demo

BILLS = ["INV-2025-001234", "INV-2025-001567"]
JOHN = "WU-10001"


@pytest.fixture
def demo(tmp_path, plugins, request):
    """loket serving the demo tenant; the consumer token is the one ``loket demo`` prints."""
    loket = start_loket(tmp_path, plugins, request)
    keys = load_demo(loket.ctx, TokenSigner(loket.ctx.config.secret_keys[0].encode()))
    assert keys.created
    loket.keys.update(keys.api_keys)
    loket.tokens[JOHN] = keys.consumer_token
    yield loket
    loket.stop()


def bills_outstanding(demo) -> str:
    """What John's two demo bills still owe, as the consumer's items endpoint says."""
    items = demo.get("/v1/me/items?type=bills", as_=JOHN)
    assert items.status_code == 200, items.text
    assert {i["reference"] for i in items.json()["items"]} <= set(BILLS)
    return items.json()["total_outstanding"]["decimal"]


def test_john_doe_pays_his_two_bills_through_the_sandbox_page(demo):
    assert bills_outstanding(demo) == "297.75"
    assert demo.get("/v1/me", as_=JOHN).json()["consumer"]["name"] == "John Doe"
    assert [g["kind"] for g in demo.get("/v1/me/gateways", as_=JOHN).json()["items"]] \
        == ["sandbox"]

    started = demo.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": r} for r in BILLS]}, JOHN)
    assert started.status_code == 201, started.text
    number = started.json()["payment"]["number"]
    page_url = started.json()["redirect_url"]
    assert page_url.startswith(demo.url + "/sandbox/checkout/")

    page = demo.http.get(page_url, timeout=10)  # the browser opens the hosted page
    assert page.status_code == 200 and "$297.75" in page.text and number in page.text
    # Pressing Pay posts the form; the sandbox sends its signed webhook to loket over HTTP
    # and answers 303 to loket's return URL, which the browser follows.
    paid = demo.http.post(page_url, data={"action": "pay"}, timeout=10)
    assert [r.status_code for r in paid.history] == [303]
    assert urlsplit(paid.url).path == f"/v1/return/{number}"
    assert paid.status_code == 200 and paid.json()["status"] == "succeeded", paid.text

    events = demo.get("/v1/webhook-events", as_="tenant_admin").json()["items"]
    assert [(e["type"], e["status"]) for e in events if e["payment_number"] == number] == [
        ("payment.succeeded", "processed")]  # the sandbox's webhook came in over HTTP

    assert bills_outstanding(demo) == "0.00"
    assert not {i["reference"] for i in demo.get("/v1/me/items", as_=JOHN).json()["items"]} \
        & set(BILLS)
    mine = demo.get(f"/v1/me/payments/{number}", as_=JOHN).json()
    assert mine["status"] == "succeeded" and mine["amount"]["decimal"] == "297.75"
