"""Approval controls over HTTP: the requests waiting for a second person, approve, reject."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core.models import Approval
from loket.core.payments import approvals
from loket.server import serialize as s
from loket.server.base import Resource


def approval_json(row: Approval) -> dict[str, Any]:
    """An approval as the API shows it."""
    return {"id": row.id, "kind": row.kind, "status": row.status,
            "payment": row.payment.number if row.payment else None,
            "plan": (row.request.get("plan") or row.request.get("reference")
                     if row.payment is None else None),
            "amount": s.money(row.amount, row.currency),
            "request": row.request, "maker": row.maker, "maker_role": row.maker_role,
            "checker": row.checker, "decision_note": row.decision_note,
            "result": row.result, "created_at": s.when(row.created_at),
            "decided_at": s.when(row.decided_at)}


def pending(resp: falcon.Response, row: Approval) -> None:
    """Answer 202: the operation waits for approval."""
    resp.status = falcon.HTTP_202
    resp.media = {"approval": approval_json(row),
                  "detail": "above the approval threshold: waiting for a second person"}


class Approvals(Resource):
    """``GET /v1/approvals?status=``: requests waiting (or decided)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List approvals, oldest first (default: pending)."""
        page, limit, _ = self.paging(req)
        with self.ctx.transaction() as session:
            result = approvals.list_approvals(session, self.tenant(req),
                                              self.query(req).get("status", "pending"),
                                              page, limit)
            resp.media = s.page(result, [approval_json(a) for a in result.items])


class ApprovalDecision(Resource):
    """``POST /v1/approvals/{approval_id}/approve`` and ``/reject`` with a note."""

    def __init__(self, ctx: Any, approving: bool):
        super().__init__(ctx)
        self.approving = approving

    def on_post(self, req: falcon.Request, resp: falcon.Response, approval_id: str) -> None:
        """Decide (a second person with an approving role; never the maker)."""
        note = self.body(req).get("note", "")
        with self.ctx.transaction() as session:
            row = approvals.approval(session, self.tenant(req), int(approval_id))
            if self.approving:
                approvals.approve(self.ctx, session, self.actor(req), row, note)
            else:
                approvals.reject(self.ctx, session, self.actor(req), row, note)
            resp.media = approval_json(row)


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the approval endpoints."""
    app.add_route("/v1/approvals", Approvals(ctx))
    app.add_route("/v1/approvals/{approval_id}/approve", ApprovalDecision(ctx, True))
    app.add_route("/v1/approvals/{approval_id}/reject", ApprovalDecision(ctx, False))
