"""Disputes at the console: the list with search and state, opening one on a payment, one
dispute with its history, evidence notes and the moves its state allows (a dispute the
gateway reported is closed by the gateway only; a loss above the refund threshold waits for
approval)."""

from __future__ import annotations

import falcon

from loket.core.backoffice import queries
from loket.core.models import Approval
from loket.core.payments import approvals, disputes
from loket.errors import LoketError, NotFound
from loket.web import amounts
from loket.web.console.base import Page, Viewer, first, see_other, whole_number
from loket.web.console.nav import N_
from loket.web.console.payments import page_number
from loket.web.console.problems import Problem

LIST = ("GET", "/v1/disputes")
DETAIL = ("GET", "/v1/disputes/{dispute_id}")
OPEN = ("POST", "/v1/payments/{number}/disputes")
NOTE = ("POST", "/v1/disputes/{dispute_id}/notes")
MOVE = ("POST", "/v1/disputes/{dispute_id}/status")
STATUSES = tuple(s.value for s in disputes.DisputeStatus)
OPEN_INPUTS = ("reason", "amount", "notes")


def _id(dispute_id: str) -> int:
    number = whole_number(dispute_id)
    if number is None:
        raise NotFound(f"no dispute {dispute_id!r}")
    return number


class Disputes(Page):
    """``GET /console/disputes?q=&status=``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List disputes, newest first."""
        viewer = self.viewer(req, LIST)
        q = req.get_param("q") or ""
        state = req.get_param("status") or ""
        with self.ctx.transaction() as session:
            result = disputes.list_disputes(
                session, viewer.principal.tenant_id,
                disputes.DisputeFilters(q=q or None,
                                        status=state if state in STATUSES else None),
                page_number(req), 20)
            self.render(resp, "console/disputes.html", viewer, result=result, q=q,
                        state=state, statuses=STATUSES, active="/console/disputes", wide=True)


class NewDispute(Page):
    """``GET /console/disputes/new?payment=`` (the form) and ``POST`` (open it)."""

    def show(self, resp: falcon.Response, viewer: Viewer, number: str, *,
             form: dict | None = None, problem: Problem | None = None,
             status: str = falcon.HTTP_200) -> None:
        """The form over the payment (after a refusal, as it was sent with each refused
        field's message under it)."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, viewer.principal.tenant_id, number)
            self.render(resp, "console/dispute_new.html", viewer, status=status,
                        payment=payment, form=form or {},
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {}, active="/console/disputes",
                        amount_example=amounts.example(viewer.locale, payment.currency))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The form."""
        viewer = self.viewer(req, OPEN)
        self.show(resp, viewer, req.get_param("payment") or "")

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Open the dispute, then show it."""
        viewer, form = self.posted(req, OPEN)
        number = first(form, "payment")
        try:
            with self.ctx.transaction() as session:
                payment = queries.payment(session, viewer.principal.tenant_id, number)
                row = disputes.open_dispute(self.ctx, session, viewer.principal.actor(),
                                            payment, self.amount(viewer, form, "amount",
                                                                 N_("Disputed amount"),
                                                                 payment.currency),
                                            first(form, "reason"), first(form, "notes"))
                dispute_id = row.id
        except LoketError as exc:
            self.show(resp, viewer, number, form=form,
                      problem=self.explain(viewer, exc, OPEN_INPUTS),
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/disputes/{dispute_id}?done=opened")


class DisputeDetail(Page):
    """``GET /console/disputes/{dispute_id}``."""

    def show(self, resp: falcon.Response, viewer: Viewer, dispute_id: str, *,
             notice: str | None = None, problem: Problem | None = None,
             failed: str = "", form: dict | None = None,
             status: str = falcon.HTTP_200) -> None:
        """The dispute, its history and its forms (``failed``: the form that was refused,
        ``move`` or ``note``, shown as it was sent with its messages)."""
        with self.ctx.transaction() as session:
            row = disputes.dispute(session, viewer.principal.tenant_id, _id(dispute_id))
            moves = sorted(m for m in disputes.TRANSITIONS[disputes.DisputeStatus(row.status)]
                           if row.gateway_reference is None or m not in disputes.CLOSED)
            self.render(resp, "console/dispute.html", viewer, status=status, d=row,
                        payment=row.payment, moves=[m.value for m in moves], notice=notice,
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {}, failed=failed,
                        form=form or {}, may_note=viewer.can(*NOTE) and row.closed_at is None
                        and row.status not in disputes.CLOSED,
                        may_move=viewer.can(*MOVE) and bool(moves),
                        active="/console/disputes")

    def on_get(self, req: falcon.Request, resp: falcon.Response, dispute_id: str) -> None:
        """The dispute."""
        viewer = self.viewer(req, DETAIL)
        _ = self.gettext(viewer)
        notice = {"opened": _("Dispute opened."), "note": _("Note added."),
                  "moved": _("Dispute updated."),
                  "waiting": _("Above the approval threshold: the change waits for a second "
                               "person to approve it.")}.get(req.get_param("done") or "")
        self.show(resp, viewer, dispute_id, notice=notice)


class DisputeNote(Page):
    """``POST /console/disputes/{dispute_id}/notes``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, dispute_id: str) -> None:
        """Add an evidence note."""
        viewer, form = self.posted(req, NOTE)
        try:
            with self.ctx.transaction() as session:
                row = disputes.dispute(session, viewer.principal.tenant_id, _id(dispute_id))
                disputes.add_note(self.ctx, session, viewer.principal.actor(), row,
                                  first(form, "note"))
        except LoketError as exc:
            DisputeDetail(self.ctx).show(resp, viewer, dispute_id,
                                         problem=self.explain(viewer, exc, ("note",)),
                                         failed="note", form=form,
                                         status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/disputes/{dispute_id}?done=note")


class DisputeMove(Page):
    """``POST /console/disputes/{dispute_id}/status``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, dispute_id: str) -> None:
        """Move the dispute (a lost one takes the money back; above the tenant's refund
        threshold the loss waits for a second person in Approvals, as in the API)."""
        viewer, form = self.posted(req, MOVE)
        try:
            with self.ctx.transaction() as session:
                row = disputes.dispute(session, viewer.principal.tenant_id, _id(dispute_id))
                outcome = approvals.move_dispute(self.ctx, session, viewer.principal.actor(),
                                                 row, first(form, "status"),
                                                 first(form, "note"))
                waiting = isinstance(outcome, Approval)
        except LoketError as exc:
            DisputeDetail(self.ctx).show(resp, viewer, dispute_id,
                                         problem=self.explain(viewer, exc, ("status", "note")),
                                         failed="move", form=form,
                                         status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/disputes/{dispute_id}?done="
                  + ("waiting" if waiting else "moved"))
