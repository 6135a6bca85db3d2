"""Reconciliation over HTTP: the gateway's settlements complete payments; a report line that
matches nothing is kept and becomes a to-do."""

import datetime as dt
import time

import attrs
from support.api import api, connected_api, problem  # noqa: F401 - fixtures
from support.object_store import ObjectStore

from loket.core.reconciliation import settling, sources
from loket.gateways import sandbox_page, sandbox_report


def test_fetch_settlements_completes_payments_and_the_summary_shows_them(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    assert started.status_code == 201, started.text
    number = started.json["payment"]["number"]
    api.payer_acts(started.json["redirect_url"])
    sandbox_page.settle(api.sandbox_db())  # paid out; the settlement webhooks never arrive
    summary = api.get("/v1/reconciliation", role="billing_manager").json
    assert summary["awaiting_settlement"] == [{"currency": "USD", "count": 1, "amount": 14550}]

    today = dt.date.today().isoformat()
    fetched = api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                    "to": today}, role="billing_manager")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json == {"matched": 1, "already_settled": 0, "unmatched": []}
    detail = api.get(f"/v1/payments/{number}").json
    assert detail["information"]["display_status"] == "Payment Completed"
    summary = api.get("/v1/reconciliation", role="billing_manager").json
    assert summary["awaiting_settlement"] == []
    assert summary["settled"][0]["count"] == 1 and summary["settled"][0]["matched"] is True

    again = api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                  "to": today}, role="billing_manager")
    assert again.json == {"matched": 0, "already_settled": 1, "unmatched": []}
    backwards = api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                      "to": "2000-01-01"},
                         role="billing_manager")
    assert backwards.status_code == 422 and "to" in backwards.text
    assert api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                 "to": today},
                    role="cso_executive").status_code == 403


def _paid_out(api) -> list[dict]:
    """A service paid through the sandbox and paid out; the payouts the bank must confirm."""
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "service", "reference": "SRV-LATE-0001"}]}, role="consumer")
    api.payer_acts(started.json["redirect_url"])
    api.settle()
    return api.get("/v1/reconciliation", role="billing_manager").json["payouts_awaiting_bank"]


def test_a_bank_statement_confirms_the_payout(connected_api):
    api = connected_api
    waiting = _paid_out(api)
    assert len(waiting) == 1 and waiting[0]["net"] == 2500 - (2500 * 29 + 500) // 1000 - 30
    payout = waiting[0]["payout_reference"]
    statement = ("date,reference,amount,description\n"
                 f"{dt.date.today().isoformat()},BANK-1,23.97,payout {payout}\n")
    imported = api.post("/v1/reconciliation/bank-statements",
                        {"filename": "statement.csv", "content": statement},
                        role="billing_manager")
    assert imported.status_code == 200, imported.text
    assert imported.json == {"matched_payouts": [payout], "unmatched_lines": [],
                             "already_imported": 0}
    assert api.get("/v1/reconciliation",
                   role="billing_manager").json["payouts_awaiting_bank"] == []
    assert api.get("/v1/todos", role="billing_manager").json["total"] == 0
    bad = api.post("/v1/reconciliation/bank-statements",
                   {"filename": "s.csv", "content": "date,amount\n"}, role="billing_manager")
    assert bad.status_code == 422


def test_a_bank_statement_line_with_more_fields_than_the_header_is_named(connected_api):
    api = connected_api
    statement = ("date,reference,amount\n"
                 f"{dt.date.today().isoformat()},TRF 1,1,500.00\n")
    answer = api.post("/v1/reconciliation/bank-statements",
                      {"filename": "s.csv", "content": statement}, role="billing_manager")
    assert answer.status_code == 422, answer.text
    assert answer.json["errors"] == [{"field": "line 2", "message": (
        'line 2: more fields (4) than the header (3); put an amount or text that contains '
        'a comma in quotes, as "1,500.00"')}]
    assert api.get("/v1/todos", role="billing_manager").json["total"] == 0


# --- files of any size, read by the worker --------------------------------------------


def _paid_and_settled(api, items) -> list[str]:
    """Pay each bill through the sandbox; the sandbox pays them out but its settlement
    webhooks never arrive (the report is how loket learns). Returns the payment numbers."""
    numbers = []
    for kind, reference in items:
        started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
            {"kind": kind, "reference": reference}]}, role="consumer")
        assert started.status_code == 201, started.text
        api.payer_acts(started.json["redirect_url"])
        numbers.append(started.json["payment"]["number"])
    sandbox_page.settle(api.sandbox_db())
    return numbers


def _report(api) -> bytes:
    day = dt.timedelta(days=1)
    now = dt.datetime.now(dt.UTC)
    config_id = api.sandbox_db().execute("SELECT config_id FROM checkouts LIMIT 1").fetchone()
    return sandbox_report.write_report(api.sandbox_db(), config_id["config_id"], now - day,
                                       now + day).encode()


def _until_finished(api, location: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = api.get(location, role="billing_manager")
        assert answer.status_code == 200, answer.text
        run = answer.json
        if run["state"] in ("done", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"the run never finished: {run}")


def test_a_settlement_report_file_is_read_by_the_worker_and_its_progress_can_be_followed(
        connected_api):
    api = connected_api
    numbers = _paid_and_settled(api, [("bill", "INV-2025-001234"),
                                     ("service", "SRV-LATE-0001")])
    report = _report(api) + b"sbx_unknown,PAY-NOPE,USD,1.00,0.33,0.67,2026-12-01T10:00:00+00:00,\n"
    answer = api.call("POST", "/v1/gateways/sandbox/settlement-report-files",
                      role="billing_manager", body=report, params={"filename": "report.csv"},
                      headers={"Content-Type": "text/csv"})
    assert answer.status_code == 202, answer.text
    location = answer.headers["location"]
    assert location == f"/v1/reconciliation/runs/{answer.json['id']}"
    assert answer.json["size"] == len(report) and answer.json["filename"] == "report.csv"

    run = _until_finished(api, location)
    assert run["state"] == "done", run
    assert (run["lines"], run["matched"], run["already_settled"], run["unmatched"]) == (
        3, 2, 0, 1)
    assert run["unmatched_sample"] == ["sbx_unknown"]
    for number in numbers:
        detail = api.get(f"/v1/payments/{number}").json
        assert detail["information"]["display_status"] == "Payment Completed"
    assert [r["id"] for r in api.get("/v1/reconciliation/runs",
                                     role="billing_manager").json["items"]] == [run["id"]]
    assert not list((api.ctx.config.var_dir / "reconciliation").iterdir())  # file removed

    again = api.call("POST", "/v1/gateways/sandbox/settlement-report-files",
                     role="billing_manager", body=report, params={"filename": "report.csv"})
    rerun = _until_finished(api, again.headers["location"])
    assert (rerun["matched"], rerun["already_settled"]) == (0, 2)


def test_a_report_waiting_at_a_url_is_fetched_and_read_by_the_worker(connected_api):
    api = connected_api
    _paid_and_settled(api, [("bill", "INV-2025-001234"), ("service", "SRV-LATE-0001")])
    report = _report(api)
    with ObjectStore({"/bucket/settlement-2026-11.csv": report}) as store:
        api.ctx.config = attrs.evolve(api.ctx.config, report_url_hosts=(store.host,))
        answer = api.post("/v1/reconciliation/runs", {
            "kind": "settlement_report", "gateway": "sandbox",
            "url": store.url("/bucket/settlement-2026-11.csv?X-Amz-Signature=s3cr3t")},
            role="billing_manager")
    assert answer.status_code == 202, answer.text
    assert answer.json["filename"] == "settlement-2026-11.csv"
    assert answer.json["size"] == len(report)
    run = _until_finished(api, answer.headers["location"])
    assert (run["state"], run["lines"], run["matched"]) == ("done", 2, 2), run
    assert not list((api.ctx.config.var_dir / "reconciliation").iterdir())  # nothing left


def test_urls_loket_may_not_fetch_are_refused_and_never_echoed(connected_api):
    api = connected_api

    def fetch(url, role="billing_manager"):
        return api.post("/v1/reconciliation/runs", {"kind": "bank_statement", "url": url},
                        role=role)

    with ObjectStore({"/bucket/statement.csv": b"date,reference,amount\n"}) as store:
        listed = store.url("/bucket/statement.csv")
        refused = fetch(listed + "?sig=s3cr3t")  # no host listed yet
        assert refused.status_code == 422 and "LOKET_REPORT_URL_HOSTS" in refused.text
        api.ctx.config = attrs.evolve(api.ctx.config, report_url_hosts=(store.host,))
        assert fetch(listed, role="cso_executive").status_code == 403
        elsewhere = "127.0.0.1:9"  # not listed, and nothing listens there
        for url in (store.url("/bucket/gone.csv?sig=s3cr3t"), store.url("/moved.csv?sig=s3cr3t"),
                    store.url("/zipped.csv?sig=s3cr3t"), store.url("/cut.csv?sig=s3cr3t"),
                    f"http://{elsewhere}\\@{store.host}/bucket/statement.csv?sig=s3cr3t",
                    f"http://user:s3cr3t@{store.host}/bucket/statement.csv",
                    "https://198.51.100.7/bucket/x.csv?sig=s3cr3t",
                    "ftp://127.0.0.1/bucket/x.csv?sig=s3cr3t",
                    listed + "?sig=s3cr3t" + "x" * 4000):
            answer = fetch(url)
            assert answer.status_code == 422, (url, answer.text)
            assert "s3cr3t" not in answer.text and "/bucket" not in answer.text, answer.text
        assert store.requests == ["/bucket/gone.csv?sig=s3cr3t", "/moved.csv?sig=s3cr3t",
                                  "/zipped.csv?sig=s3cr3t", "/cut.csv?sig=s3cr3t"]
        assert problem(fetch(store.url("/bucket/gone.csv")))["errors"][0]["field"] == "url"
        for url in (f"http://{store.host}\uff1fsig=s3cr3t", f"http://[{store.host}/x.csv?sig=s3cr3t",
                    f"http://{store.host}./bucket/statement.csv?sig=s3cr3t"):
            answer = fetch(url)  # malformed: refused, never a 500 that logs the URL
            assert answer.status_code == 422 and "s3cr3t" not in answer.text, answer.text
        api.ctx.config = attrs.evolve(api.ctx.config, report_url_hosts=("127.0.0.1",))
        assert "did not answer" in fetch(f"http://{elsewhere}/x.csv?sig=s3cr3t").text
        api.ctx.config = attrs.evolve(api.ctx.config, max_upload_bytes=10)
        assert fetch(listed).status_code == 413
    assert api.get("/v1/reconciliation/runs", role="billing_manager").json["items"] == []
    assert not list((api.ctx.config.var_dir / "reconciliation").iterdir())  # nothing kept


def test_a_download_ignores_proxies_and_never_outlasts_its_deadline(connected_api, monkeypatch):
    api = connected_api
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would swallow the link
    monkeypatch.setattr(sources, "DEADLINE", 1)
    with ObjectStore({"/bucket/statement.csv": b"date,reference,amount\n"}) as store:
        api.ctx.config = attrs.evolve(api.ctx.config, report_url_hosts=(store.host,))
        fetched = api.post("/v1/reconciliation/runs", {
            "kind": "bank_statement", "url": store.url("/bucket/statement.csv")},
            role="billing_manager")
        assert fetched.status_code == 202, fetched.text
        started = time.monotonic()
        slow = api.post("/v1/reconciliation/runs", {
            "kind": "bank_statement", "url": store.url("/slow.csv")}, role="billing_manager")
        assert slow.status_code == 422 and "took more than 1 s" in slow.text
        assert time.monotonic() - started < 5  # a byte every 0.2 s never resets the clock


def test_a_wrong_file_fails_with_the_line_and_moves_no_money(connected_api, monkeypatch):
    api = connected_api
    monkeypatch.setattr(settling, "BLOCK", 1)  # the good line's block would commit first
    numbers = _paid_and_settled(api, [("bill", "INV-2025-001234")])
    lines = _report(api).decode().splitlines()
    broken = "\n".join([*lines, lines[1].replace(",USD,", ",USD,").rsplit(",", 6)[0]
                        + ",USD,12.345,0.30,12.04,2026-12-01T10:00:00+00:00,\n"]).encode()
    answer = api.call("POST", "/v1/gateways/sandbox/settlement-report-files",
                      role="billing_manager", body=broken, params={"filename": "report.csv"})
    run = _until_finished(api, answer.headers["location"])
    assert run["state"] == "failed" and "line 3" in run["error"], run
    detail = api.get(f"/v1/payments/{numbers[0]}").json
    assert detail["information"]["display_status"] != "Payment Completed"


def test_file_uploads_refuse_what_they_cannot_read(connected_api):
    api = connected_api

    def upload(path, filename, body=b"a,b\n1,2\n", role="billing_manager"):
        return api.call("POST", path, role=role, body=body, params={"filename": filename})

    reports = "/v1/gateways/sandbox/settlement-report-files"
    assert upload(reports, "report.csv", role="cso_executive").status_code == 403
    named = upload(reports, "../../etc/passwd.csv")
    assert named.status_code == 422 and problem(named)["errors"][0]["field"] == "filename"
    assert upload(reports, "report.exe").status_code == 422
    assert upload(reports, "report.csv", body=b"").status_code == 422
    assert upload("/v1/gateways/nosuch/settlement-report-files", "r.csv").status_code == 404
    api.ctx.config = attrs.evolve(api.ctx.config, max_upload_bytes=10)
    assert upload(reports, "report.csv", body=b"x" * 11).status_code == 413
    assert not list((api.ctx.config.var_dir / "reconciliation").iterdir())  # nothing kept
    assert api.get("/v1/reconciliation/runs", role="billing_manager").json["items"] == []
    assert api.get("/v1/reconciliation/runs/99999",
                   role="billing_manager").status_code == 404


def test_a_bank_statement_file_confirms_the_payout(connected_api):
    api = connected_api
    payout = _paid_out(api)[0]["payout_reference"]
    statement = ("date,reference,amount,description\n"
                 f"{dt.date.today().isoformat()},BANK-1,23.97,payout {payout}\n").encode()
    answer = api.call("POST", "/v1/reconciliation/bank-statement-files", role="billing_manager",
                      body=statement, params={"filename": "statement.csv"})
    assert answer.status_code == 202, answer.text
    run = _until_finished(api, answer.headers["location"])
    assert run["state"] == "done" and (run["matched"], run["unmatched"]) == (1, 0), run
    assert api.get("/v1/reconciliation",
                   role="billing_manager").json["payouts_awaiting_bank"] == []
