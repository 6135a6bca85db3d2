"""Reconciliation at the console: where it stands (awaiting settlement, settled, payouts the
bank has not confirmed), fetching a gateway's settlements, and uploading a gateway's
settlement report or a bank statement — handed to the worker as a run whose progress the
page shows (with a link to look again while a run is under way) — and what each did
(matched, unmatched lines, to-dos)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import falcon

from loket.core.gateway_configs import configs
from loket.core.reconciliation import runs, settlements
from loket.core.states import RunKind, RunState
from loket.errors import LoketError, TooLarge, ValidationFailed
from loket.web.console.base import (
    MAX_FORM_BYTES,
    CsrfFailed,
    NotAllowed,
    Page,
    Viewer,
    first,
    read_upload,
    see_other,
    unknown_action,
)
from loket.web.session import same_token

SUMMARY = ("GET", "/v1/reconciliation")
REPORT = ("POST", "/v1/gateways/{kind}/settlement-report-files")
FETCH = ("POST", "/v1/reconciliation/fetch")
STATEMENT = ("POST", "/v1/reconciliation/bank-statement-files")
MAX_FILE_BYTES = 5 * 1024 * 1024  # the form is read in memory; larger files go by the API
# The most a form may hold: the file and the form's own fields and part headers.
MAX_UPLOAD_BYTES = MAX_FILE_BYTES + MAX_FORM_BYTES
SHOWN_RUNS = 10


def _too_large() -> ValidationFailed:
    return ValidationFailed("the file is larger than 5 MiB: send it through the API "
                            "(settlement-report-files) or `loket reconcile report`",
                            field="file")


def _day(text: str, field: str) -> dt.datetime:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2025-03-31", field=field) from None


class Reconciliation(Page):
    """``GET /console/reconciliation`` and ``POST`` (``action``: fetch, report, statement)."""

    def show(self, resp: falcon.Response, viewer: Viewer, *, outcome: dict | None = None,
             error: str | None = None, status: str = falcon.HTTP_200) -> None:
        """The summary, the three forms and the last action's outcome."""
        with self.ctx.transaction() as session:
            summary = settlements.summary(session, viewer.principal.tenant_id)
            latest = [runs.to_json(r) for r in runs.list_runs(
                session, viewer.principal.tenant_id, SHOWN_RUNS)]
            gateways = [g for g in configs.list_gateways(self.ctx, session,
                                                         viewer.principal.tenant_id)
                        if g.get("configured")]
            self.render(resp, "console/reconciliation.html", viewer, status=status,
                        summary=summary, gateways=gateways, outcome=outcome, error=error,
                        runs=latest, under_way=any(
                            r["state"] in (RunState.QUEUED, RunState.RUNNING) for r in latest),
                        today=self.ctx.now().date().isoformat(),
                        active="/console/reconciliation", wide=True)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Where reconciliation stands."""
        self.show(resp, self.viewer(req, SUMMARY))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Carry out the chosen action, then show its outcome beside the summary (a
        re-sent form reconciles nothing twice: lines already settled are counted as such)."""
        viewer = self.viewer(req, SUMMARY)
        try:
            form, files = read_upload(req, MAX_UPLOAD_BYTES)
        except TooLarge:  # nothing was done: the page says what to do with such a file
            exc = _too_large()
            self.show(resp, viewer, error=self.explain(viewer, exc).banner,
                      status=falcon.code_to_http_status(exc.status))
            return
        if not same_token(viewer.session.csrf, first(form, "csrf")):
            raise CsrfFailed(viewer)
        action = first(form, "action")
        operation = {"fetch": FETCH, "report": REPORT, "statement": STATEMENT}.get(action)
        if operation is None:
            raise unknown_action(action)
        if not viewer.can(*operation):
            raise NotAllowed(viewer, operation)
        try:
            outcome = self.act(viewer, action, form, files)
        except LoketError as exc:
            self.show(resp, viewer, error=self.explain(viewer, exc).banner,
                      status=falcon.code_to_http_status(exc.status))
            return
        if outcome is None:  # a file handed to the worker: its run shows on the page
            see_other(resp, "/console/reconciliation#runs")
            return
        self.show(resp, viewer, outcome=outcome)

    def act(self, viewer: Viewer, action: str, form: dict,
            files: dict[str, tuple[str, bytes]]) -> dict[str, Any] | None:
        """Run one action through the core; returns what the page shows of it (``None``
        for a file handed to the worker)."""
        tenant_id = viewer.principal.tenant_id
        if action == "fetch":
            since = _day(first(form, "from"), "from")
            until = _day(first(form, "to"), "to") + dt.timedelta(days=1)
            if until <= since:
                raise ValidationFailed("to must not be before from", field="to")
            with self.ctx.transaction() as session:
                result = settlements.fetch_and_reconcile(self.ctx, session, tenant_id,
                                                         first(form, "gateway"), since, until)
            return {"kind": "settlements", **result.to_json()}
        upload = files.get("file")
        if upload is None or not upload[1]:
            raise ValidationFailed("choose the file to upload", field="file")
        if len(upload[1]) > MAX_FILE_BYTES:
            raise _too_large()
        kind = RunKind.SETTLEMENT_REPORT if action == "report" else RunKind.BANK_STATEMENT
        with self.ctx.transaction() as session:
            run = runs.store_upload(self.ctx, session, viewer.principal.actor(), tenant_id,
                                    kind, first(form, "gateway") if action == "report" else None,
                                    upload[0], io.BytesIO(upload[1]))
        runs.kick(self.ctx, run.id)
        return None
