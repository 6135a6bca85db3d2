"""Reconciliation endpoints: upload a gateway's settlement report (or name its URL), fetch
what a gateway settled, and see where reconciliation stands."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from loket.core.reconciliation import bank, runs, settlements, sources
from loket.core.states import RunKind
from loket.errors import ValidationFailed
from loket.server.base import Resource


class SettlementReports(Resource):
    """``POST /v1/gateways/{kind}/settlement-reports``: a report file the gateway delivered
    (CSV as text, XLSX as base64); its lines complete the payments they match."""

    def on_post(self, req, resp, kind):
        """Parse with the gateway's plugin and reconcile; unmatched lines become to-dos."""
        body = self.body(req)
        with self.ctx.transaction() as session:
            result = settlements.import_report(self.ctx, session, self.tenant(req), kind,
                                                  _content(body), body["filename"])
        resp.media = result.to_json()
        self.track(req, "payment.reconciled", gateway=kind, source="report",
                   matched=result.matched, unmatched=len(result.unmatched))


def _content(body: dict) -> bytes:
    """The report file: ``content`` (text, e.g. CSV) or ``content_base64`` (e.g. XLSX)."""
    if ("content" in body) == ("content_base64" in body):
        raise ValidationFailed("send the file as exactly one of content (text) or "
                               "content_base64 (binary, e.g. XLSX)", field="content")
    if "content" in body:
        return body["content"].encode()
    try:
        return base64.b64decode(body["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("content_base64 is not valid base64",
                               field="content_base64") from None


class ReconciliationFiles(Resource):
    """``POST /v1/gateways/{kind}/settlement-report-files`` and ``POST
    /v1/reconciliation/bank-statement-files``: the raw file as the body, of any size,
    streamed to disk and reconciled by the worker; answered 202 with the run to follow."""

    def __init__(self, ctx, kind: RunKind):
        super().__init__(ctx)
        self.kind = kind

    def on_post(self, req, resp, kind=None):
        """Store the file and queue its run (``Location``: the run's URL)."""
        with self.ctx.transaction() as session:
            run = runs.store_upload(self.ctx, session, self.actor(req), self.tenant(req),
                                    self.kind, kind, self.query(req)["filename"],
                                    req.bounded_stream)
            answer = runs.to_json(run)
        runs.kick(self.ctx, run.id)
        resp.status = 202
        resp.location = f"/v1/reconciliation/runs/{run.id}"
        resp.media = answer


class ReconciliationRuns(Resource):
    """``GET /v1/reconciliation/runs`` and ``GET /v1/reconciliation/runs/{run_id}``."""

    def on_get(self, req, resp, run_id=None):
        """The latest runs, or one run with its progress."""
        with self.ctx.transaction() as session:
            if run_id is None:
                resp.media = {"items": [runs.to_json(r)
                                        for r in runs.list_runs(session, self.tenant(req))]}
            else:
                resp.media = runs.to_json(runs.get_run(session, self.tenant(req), int(run_id)))


class ReconciliationRunFetches(ReconciliationRuns):
    """``GET /v1/reconciliation/runs``, and ``POST /v1/reconciliation/runs``: a file fetched
    from a URL (an object store's link)."""

    def on_post(self, req, resp):
        """Fetch the file at ``url`` (a host of ``LOKET_REPORT_URL_HOSTS``), store it as an
        upload and queue its run; 202 with the run (``Location``: its URL). What could not be
        read is refused before the download; no transaction is open while it runs."""
        body = self.body(req)
        kind, gateway, url = RunKind(body["kind"]), body.get("gateway"), body["url"]
        tenant_id = self.tenant(req)
        sources.allowed_host(self.ctx.config, url)
        with self.ctx.transaction() as session:
            filename = runs.check_target(self.ctx, session, tenant_id, kind, gateway,
                                         body.get("filename") or sources.file_name(url))
        with sources.downloaded(self.ctx.config, url, runs.folder(self.ctx)) as (path, _):
            with self.ctx.transaction() as session:  # moved into place, not copied again
                run = runs.store_upload(self.ctx, session, self.actor(req), tenant_id, kind,
                                        gateway, filename, path)
                answer = runs.to_json(run)
        runs.kick(self.ctx, run.id)
        resp.status = 202
        resp.location = f"/v1/reconciliation/runs/{run.id}"
        resp.media = answer


class ReconciliationFetch(Resource):
    """``POST /v1/reconciliation/fetch``: ask a gateway what it settled in a period."""

    def on_post(self, req, resp):
        """Fetch the gateway's settlements for ``[from, to]`` (dates) and reconcile them."""
        body = self.body(req)
        since = dt.datetime.combine(dt.date.fromisoformat(body["from"]), dt.time(),
                                    dt.UTC)
        until = dt.datetime.combine(dt.date.fromisoformat(body["to"]), dt.time(),
                                    dt.UTC) + dt.timedelta(days=1)
        if until <= since:
            raise ValidationFailed("to must not be before from", field="to")
        with self.ctx.transaction() as session:
            result = settlements.fetch_and_reconcile(self.ctx, session, self.tenant(req),
                                                        body["gateway"], since, until)
        resp.media = result.to_json()
        self.track(req, "payment.reconciled", gateway=body["gateway"], source="fetch",
                   matched=result.matched, unmatched=len(result.unmatched))


class BankStatements(Resource):
    """``POST /v1/reconciliation/bank-statements``: a bank statement (CSV text) confirms the
    gateway payouts it shows; credits that match no payout become to-dos."""

    def on_post(self, req, resp):
        """Import the statement and match its credits to payouts."""
        body = self.body(req)
        with self.ctx.transaction() as session:
            result = bank.import_statement(self.ctx, session, self.actor(req), self.tenant(req),
                                           body["content"])
        resp.media = result.to_json()
        self.track(req, "payment.reconciled", source="bank", matched=len(result.matched),
                   unmatched=len(result.unmatched))


class ReconciliationSummary(Resource):
    """``GET /v1/reconciliation``: awaiting settlement, settled (matched or not), fees."""

    def on_get(self, req, resp):
        """The summary per currency."""
        with self.ctx.transaction() as session:
            resp.media = settlements.summary(session, self.tenant(req))
        self.track(req, "report.generated", report="reconciliation")


def add_routes(app, ctx) -> None:
    """Mount the reconciliation endpoints."""
    app.add_route("/v1/gateways/{kind}/settlement-reports", SettlementReports(ctx))
    app.add_route("/v1/reconciliation/fetch", ReconciliationFetch(ctx))
    app.add_route("/v1/reconciliation/bank-statements", BankStatements(ctx))
    app.add_route("/v1/reconciliation", ReconciliationSummary(ctx))
    app.add_route("/v1/gateways/{kind}/settlement-report-files",
                  ReconciliationFiles(ctx, RunKind.SETTLEMENT_REPORT))
    app.add_route("/v1/reconciliation/bank-statement-files",
                  ReconciliationFiles(ctx, RunKind.BANK_STATEMENT))
    app.add_route("/v1/reconciliation/runs", ReconciliationRunFetches(ctx))
    app.add_route("/v1/reconciliation/runs/{run_id}", ReconciliationRuns(ctx))
