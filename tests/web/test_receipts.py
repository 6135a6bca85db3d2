"""The receipt link in the payer's "payment completed" message: a guest who paid, once the
visit has ended, downloads the receipt PDF from the message for 180 days; an altered link,
one for another tenant or payment, an expired one and a receipt not available yet each get
a page (HTML, 4xx) saying so; a LOKET_SECRET_KEY rotation keeps links sent before it while
the old key is listed."""

from __future__ import annotations

import io
import json
import re

import attrs
import falcon.testing
from pypdf import PdfReader
from support.console import Person, text_of
from support.engine import seed
from support.jobs import Clock

from loket.core.context import Loket
from loket.core.outbox import messages
from loket.core.secrets import SecretBox
from loket.server.app import create_app

GUEST = {"account_number": "WU-10001", "name": "John Doe", "last_bill_amount": "152.25"}
LINK = re.compile(r"http://testserver(/receipts/\S+)")


def _paid_as_a_guest(api) -> tuple[str, dict]:
    """Neighbour Ned pays John Doe's two bills as a guest (messages on the ``log``
    channel), the payment is settled and the visit ends; returns the payment's number and
    the "payment completed" message Ned got."""
    assert api.put("/v1/settings", {"guest": {"enabled": True}, "messages": {
        "channels": {"default": ["log"]}}}).status_code == 200
    guest = Person(client=api.client)
    guest.get("/guest/t1")
    assert guest.post("/guest/t1", GUEST).status_code == 303
    guest.get("/guest/t1/bills")
    started = guest.post("/guest/t1/bills", [
        ("item", "bill:INV-2025-001234"), ("item", "bill:INV-2025-001567"),
        ("payer_name", "Neighbour Ned"), ("payer_email", "ned@example.com"),
        ("gateway", "sandbox")])
    assert started.status_code == 303, text_of(started.text)
    api.payer_acts(started.headers["location"])
    api.settle()
    guest.post("/guest/t1/finish", {})
    log = api.ctx.config.var_dir / "messages.log"
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    (completed,) = [m for m in sent if m["kind"] == "payment.completed"]
    number = re.search(r"PAY-\S+", completed["subject"] + completed["body"]).group(0)
    return number, completed


def _link(message: dict) -> str:
    """The path and query of the receipt link in ``message``'s e-mail body."""
    return LINK.search(message["body"]).group(1)


def _open(client: falcon.testing.TestClient, link: str) -> falcon.testing.Result:
    """A phone's browser following ``link`` (path and query)."""
    path, _sep, query = link.partition("?")
    return client.simulate_get(path, query_string=query, headers={
        "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})


def _pdf_text(answer: falcon.testing.Result) -> str:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.content)).pages)


def _refused(answer: falcon.testing.Result, status: int, says: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    assert says in text_of(answer.text), text_of(answer.text)


def test_the_completed_message_carries_a_link_that_downloads_the_receipt(connected_api):
    api = connected_api
    number, message = _paid_as_a_guest(api)
    receipt = api.get(f"/v1/payments/{number}").json["information"]["receipt_number"]
    assert message["to"] == "ned@example.com"
    assert f"Receipt {receipt} is ready" in message["body"]
    assert "the link works for 180 days" in message["body"]
    link = _link(message)
    assert link.startswith(f"/receipts/t1/{number}?sig=")
    assert f"http://testserver{link}" in message["data"]["sms"]  # the text message carries it too
    # The visit is over (no cookie): the guest pages no longer show the payment...
    assert Person(client=api.client).get(f"/guest/t1/payments/{number}").status_code == 303
    # ...the link from the message still gives the receipt.
    answer = _open(api.client, link)
    text = _pdf_text(answer)
    assert f"receipt-{receipt}.pdf" in answer.headers["content-disposition"]
    for shown in (receipt, "297.75", "John Doe", "Neighbour Ned"):
        assert shown in text, (shown, text)
    for private in ("john.doe@example.com", "12 Water Lane"):
        assert private not in text, (private, text)


def test_an_altered_or_foreign_link_gets_a_page_saying_it_is_not_valid(connected_api):
    api = connected_api
    seed(api.ctx, slug="t2")
    number, message = _paid_as_a_guest(api)
    link = _link(message)
    path, _sep, query = link.partition("?")
    sig = query.removeprefix("sig=")
    payload, _dot, mac = sig.rpartition(".")
    altered = [f"{path}?sig={payload}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",
               f"{path}?sig={payload[:-3]}xyz.{mac}",
               path,  # no signature at all
               f"/receipts/t2/{number}?{query}",  # another tenant's address
               f"/receipts/t1/{number[:-1]}9?{query}",  # another payment
               f"/receipts/nowhere/{number}?{query}"]
    for wrong in altered:
        _refused(_open(api.client, wrong), 404, "This receipt link is not valid")
    assert "%PDF" not in _open(api.client, altered[3]).text
    in_indonesian = api.client.simulate_get(path, query_string=f"sig={sig}x", headers={
        "Accept": "text/html", "Accept-Language": "id-ID,id;q=0.9"})
    assert in_indonesian.status_code == 404
    assert 'lang="id"' in in_indonesian.text


def test_a_link_works_for_180_days_then_says_it_has_expired(connected_api):
    api = connected_api
    clock = Clock()
    api.ctx.clock = clock
    _number, message = _paid_as_a_guest(api)
    link = _link(message)
    clock.advance(days=179, hours=23)
    assert _pdf_text(_open(api.client, link))
    clock.advance(hours=2)
    answer = _open(api.client, link)
    _refused(answer, 410, "This receipt link has expired")
    assert "180 days" in text_of(answer.text)


def test_a_receipt_not_issued_yet_says_so(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    number = started.json["payment"]["number"]  # the payer is still at the gateway
    link = messages.receipt_link(api.ctx, "t1", api.tenant_id, number)
    answer = _open(api.client, link.removeprefix("http://testserver"))
    _refused(answer, 409, "The receipt is not available yet")


def _under_keys(api, keys: tuple[str, ...]) -> falcon.testing.TestClient:
    """The same loket (database, plugins, clock) run with another LOKET_SECRET_KEY."""
    config = attrs.evolve(api.ctx.config, secret_keys=keys)
    ctx = Loket.create(config, plugins=api.ctx.plugins, engine=api.ctx.engine,
                       clock=api.ctx.clock)
    return falcon.testing.TestClient(create_app(ctx))


def test_a_key_rotation_keeps_receipt_links_until_the_old_key_goes(connected_api):
    api = connected_api
    _number, message = _paid_as_a_guest(api)
    link = _link(message)  # signed with the old key
    old, new = api.ctx.config.secret_keys[0], SecretBox.generate_key()
    assert _pdf_text(_open(_under_keys(api, (new, old)), link))
    _refused(_open(_under_keys(api, (new,)), link), 404, "This receipt link is not valid")

