"""Approvals at the console (maker-checker): the requests waiting for a second person, and
approving or rejecting one with a note. The core refuses the maker deciding their own."""

from __future__ import annotations

import falcon
from sqlalchemy.orm import Session

from loket.core.payments import approvals
from loket.core.settings import load_settings
from loket.errors import LoketError, NotFound
from loket.web.console.base import Page, Viewer, first, see_other, whole_number
from loket.web.console.labels import ROLE_LABELS
from loket.web.console.payments import page_number
from loket.web.console.problems import Problem

LIST = ("GET", "/v1/approvals")
APPROVE = ("POST", "/v1/approvals/{approval_id}/approve")
REJECT = ("POST", "/v1/approvals/{approval_id}/reject")
STATUSES = tuple(s.value for s in approvals.ApprovalStatus)


def _may_decide(session: Session, viewer: Viewer) -> bool:
    """Whether the viewer's role may decide approvals: allowed the API's decisions and
    among the tenant's ``approvals.approver_roles`` (else a decision would be refused)."""
    approvers = load_settings(session, viewer.principal.tenant_id).document.get(
        "approvals", {}).get("approver_roles", approvals.DEFAULT_APPROVERS)
    return viewer.can(*APPROVE) and viewer.principal.role in approvers


class Approvals(Page):
    """``GET /console/approvals?status=pending|approved|rejected``."""

    def show(self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, *,
             notice: str | None = None, problem: Problem | None = None, failed: int = 0,
             form: dict | None = None, status: str = falcon.HTTP_200) -> None:
        """Render the list with the decision forms (``failed``: the approval whose form was
        refused, shown as it was sent with its messages)."""
        state = req.get_param("status") or "pending"
        state = state if state in STATUSES else "pending"
        with self.ctx.transaction() as session:
            result = approvals.list_approvals(session, viewer.principal.tenant_id, state,
                                              page_number(req), 20)
            self.render(resp, "console/approvals.html", viewer, status=status, result=result,
                        state=state, statuses=STATUSES, notice=notice,
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {}, failed=failed,
                        form=form or {},
                        mine={a.id for a in result.items
                              if approvals.made_by(viewer.principal.actor(), a)},
                        role_labels=ROLE_LABELS,
                        may_decide=_may_decide(session, viewer),
                        active="/console/approvals")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The approvals."""
        viewer = self.viewer(req, LIST)
        _ = self.gettext(viewer)
        notice = {"approved": _("Approved and carried out."),
                  "rejected": _("Rejected.")}.get(req.get_param("done") or "")
        self.show(req, resp, viewer, notice=notice)


class ApprovalDecision(Page):
    """``POST /console/approvals/{approval_id}/approve`` and ``/reject``."""

    def __init__(self, ctx: object, approving: bool):
        super().__init__(ctx)
        self.approving = approving

    def on_post(self, req: falcon.Request, resp: falcon.Response, approval_id: str) -> None:
        """Decide (never the maker: the core refuses)."""
        viewer, form = self.posted(req, APPROVE if self.approving else REJECT)
        number = whole_number(approval_id)
        if number is None:
            raise NotFound(f"no approval {approval_id!r}")
        try:
            with self.ctx.transaction() as session:
                row = approvals.approval(session, viewer.principal.tenant_id, number)
                decide = approvals.approve if self.approving else approvals.reject
                decide(self.ctx, session, viewer.principal.actor(), row, first(form, "note"))
        except LoketError as exc:
            Approvals(self.ctx).show(req, resp, viewer,
                                     problem=self.explain(viewer, exc, ("note",)),
                                     failed=number, form=form,
                                     status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/approvals?done=" + ("approved" if self.approving
                                                       else "rejected"))
