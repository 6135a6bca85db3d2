"""Files up to the page's 5 MiB go through the console's reconciliation forms (the worker
reads them as it does small ones); a larger one shows the page with the advice on the file,
and nothing is kept."""

from __future__ import annotations

import datetime as dt
import re
import time

from sqlalchemy import select
from support.console import Person, text_of

from loket.core.models import ReconciliationRun

MIB = 1024 * 1024


def signed_in(api) -> Person:
    person = Person(client=api.client)
    person.follow(person.sign_in(api.keys["billing_manager"]))
    person.get("/console/reconciliation")
    return person


def statement(size: int) -> bytes:
    """A bank statement of about ``size`` bytes: one credit matching nothing, then debits
    with long descriptions (which the import passes over)."""
    today = dt.date.today().isoformat()
    text = f"date,reference,amount,description\n{today},BANK-77,99.00,unknown credit\n"
    debit = f"{today},FEE,-1.00,{'x' * 100_000}\n"
    return (text + debit * (size // len(debit) + 1)).encode()


def upload(person: Person, content: bytes):
    """Submit the bank statement form with ``content`` as its file, as a browser does."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', person.page).group(1)
    head = "".join(f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in (("csrf", csrf), ("action", "statement")))
    body = (head + '--b\r\nContent-Disposition: form-data; name="file"; '
            'filename="statement.csv"\r\nContent-Type: text/csv\r\n\r\n').encode() + \
        content + b"\r\n--b--\r\n"
    headers = person._headers({"Content-Type": "multipart/form-data; boundary=b"})
    return person.client.simulate_post("/console/reconciliation", body=body, headers=headers)


def runs(api) -> list[ReconciliationRun]:
    with api.ctx.transaction() as session:
        return list(session.scalars(select(ReconciliationRun)))


def test_a_2_mib_statement_is_read_like_a_small_one(api):
    manager = signed_in(api)
    content = statement(2 * MIB)
    assert len(content) > 2 * MIB
    sent = upload(manager, content)
    assert sent.status_code == 303, text_of(sent.text)
    deadline = time.monotonic() + 60
    while runs(api)[0].state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    run = runs(api)[0]
    assert (run.state, run.size, run.unmatched) == ("done", len(content), 1), run.error
    assert "BANK-77" in text_of(manager.get("/console/reconciliation").text)


def test_a_6_mib_statement_shows_the_page_with_the_advice_on_the_file(api):
    manager = signed_in(api)
    refused = upload(manager, statement(6 * MIB))
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "Reconciliation" in text and "Upload a bank statement" in text  # the page itself
    assert "the file is larger than 5 MiB: send it through the API" in text
    assert runs(api) == []


def test_an_altered_action_is_the_consoles_page_with_a_way_back_not_json(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    manager = signed_in(api)
    refused = manager.post("/console/reconciliation", {"action": "drop-everything"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    text = text_of(refused.text)
    assert "Formulir tidak dipahami" in text and "tidak ditawarkan halamannya" in text
    assert re.search(r'<a class="button" href="/console/reconciliation">Kembali ke '
                     r'formulir</a>', refused.text)
    assert 'href="/console/dashboard"' in refused.text  # the navigation
    assert runs(api) == []
