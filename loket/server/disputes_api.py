"""Disputes over HTTP: open one on a payment, list and filter them, add evidence notes, move
them through their states."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core.backoffice import queries
from loket.core.models import Approval, Dispute
from loket.core.payments import approvals, disputes
from loket.server import approvals_api
from loket.server import serialize as s
from loket.server.base import Resource, created


def dispute_json(row: Dispute) -> dict[str, Any]:
    """A dispute as the API shows it."""
    payment = row.payment
    return {"id": row.id, "status": row.status, "reason": row.reason,
            "amount": s.money(row.amount, row.currency),
            "amount_taken_back": s.money(row.amount_taken_back, row.currency),
            "payment": payment.number, "payment_status": payment.status,
            "consumer": s.consumer_ref(payment.consumer), "opened_by": row.opened_by,
            "gateway_reference": row.gateway_reference, "history": row.history,
            "created_at": s.when(row.created_at), "closed_at": s.when(row.closed_at)}


class PaymentDisputes(Resource):
    """``POST /v1/payments/{number}/disputes``: open a dispute on a payment."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """Open it (reason, amount, notes)."""
        b = self.body(req)
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            row = disputes.open_dispute(self.ctx, session, self.actor(req), payment,
                                        b.get("amount"), b["reason"], b.get("notes", ""))
            created(resp, dispute_json(row))


class Disputes(Resource):
    """``GET /v1/disputes``: search (payment, consumer) and filters (status, payment)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List disputes, newest first."""
        q = self.query(req)
        page, limit, _ = self.paging(req)
        with self.ctx.transaction() as session:
            result = disputes.list_disputes(session, self.tenant(req), disputes.DisputeFilters(
                q=q.get("q"), status=q.get("status"), payment=q.get("payment")), page, limit)
            resp.media = s.page(result, [dispute_json(d) for d in result.items])


class DisputeDetail(Resource):
    """``GET /v1/disputes/{dispute_id}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, dispute_id: str) -> None:
        """One dispute with its history."""
        with self.ctx.transaction() as session:
            resp.media = dispute_json(disputes.dispute(session, self.tenant(req),
                                                       int(dispute_id)))


class DisputeNotes(Resource):
    """``POST /v1/disputes/{dispute_id}/notes``: add an evidence note."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, dispute_id: str) -> None:
        """Add the note."""
        with self.ctx.transaction() as session:
            row = disputes.dispute(session, self.tenant(req), int(dispute_id))
            disputes.add_note(self.ctx, session, self.actor(req), row, self.body(req)["note"])
            resp.media = dispute_json(row)


class DisputeStatusChange(Resource):
    """``POST /v1/disputes/{dispute_id}/status``: move the dispute (under_review, won, lost,
    withdrawn); a lost dispute takes the money back from the payment, and one above the
    tenant's ``refund_above`` waits for a second person (202)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, dispute_id: str) -> None:
        """Move it, or keep the loss for approval."""
        b = self.body(req)
        with self.ctx.transaction() as session:
            row = disputes.dispute(session, self.tenant(req), int(dispute_id))
            outcome = approvals.move_dispute(self.ctx, session, self.actor(req), row,
                                             b["status"], b.get("note", ""),
                                             idempotency_key=self.key(req))
            if isinstance(outcome, Approval):
                approvals_api.pending(resp, outcome)
                return
            resp.media = dispute_json(row)


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the dispute endpoints."""
    app.add_route("/v1/payments/{number}/disputes", PaymentDisputes(ctx))
    app.add_route("/v1/disputes", Disputes(ctx))
    app.add_route("/v1/disputes/{dispute_id}", DisputeDetail(ctx))
    app.add_route("/v1/disputes/{dispute_id}/notes", DisputeNotes(ctx))
    app.add_route("/v1/disputes/{dispute_id}/status", DisputeStatusChange(ctx))
