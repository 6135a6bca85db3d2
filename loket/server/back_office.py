"""Back-office endpoints: credit notes, the to-do worklist, the audit trail, KPIs and the
webhook events staff can replay."""

from __future__ import annotations

from loket.core.backoffice import administration, casework, kpis, queries
from loket.core.documents import pdf
from loket.core.payments import credit_notes
from loket.core.webhooks import inbox
from loket.server import reports_api
from loket.server import serialize as s
from loket.server.base import Resource, created, date_param, money_param


class CreditNotes(Resource):
    """``GET /v1/credit-notes``: search (number, consumer name, account, linked receipt) and
    filters (status, period or date range, reasons, consumer, remaining, receipt, amount)."""

    def on_get(self, req, resp):
        """List credit notes."""
        q = self.query(req)
        page, limit, newest = self.paging(req)
        tenant = self.tenant(req)
        with self.ctx.transaction() as session:
            filters = queries.CreditNoteFilters(
                q=q.get("q"), status=q.get("status"), period=q.get("period"),
                date_from=date_param(q.get("date_from")), date_to=date_param(q.get("date_to")),
                reasons=tuple(q.get("reason", ())), account_number=q.get("account"),
                remaining=q.get("remaining"), receipt=q.get("receipt"),
                amount_min=money_param(session, tenant, q.get("amount_min"), "amount_min"),
                amount_max=money_param(session, tenant, q.get("amount_max"), "amount_max"))
            now = self.ctx.now()
            result = queries.list_credit_notes(session, tenant, filters, now, page, limit,
                                               newest)
            resp.media = s.page(result, [s.credit_note(n, now) for n in result.items])


def _note_detail(session, note, now) -> dict:
    return {**s.credit_note(note, now), "applications": [
        {"kind": r.kind, "reference": r.reference, "amount": s.money(a.amount, note.currency),
         "created_by": a.created_by, "created_at": s.when(a.created_at)}
        for a, r in queries.applications(session, note)]}


class CreditNoteDetail(Resource):
    """``GET /v1/credit-notes/{number}``: the note and where it was applied."""

    def on_get(self, req, resp, number):
        """Show the note."""
        with self.ctx.transaction() as session:
            note = queries.credit_note(session, self.tenant(req), number)
            if reports_api.wants_pdf(req):
                reports_api.send_pdf(resp, pdf.credit_note_pdf(session, note, self.ctx.now()),
                                     f"credit-note-{note.number}.pdf")
                return
            resp.media = _note_detail(session, note, self.ctx.now())


class CreditNoteApply(Resource):
    """``POST /v1/credit-notes/{number}/apply``: use credit on one of the consumer's items."""

    def on_post(self, req, resp, number):
        """Apply (part of) the note."""
        b = self.body(req)
        with self.ctx.transaction() as session:
            note = queries.credit_note(session, self.tenant(req), number)
            credit_notes.apply_credit_note(self.ctx, session, self.actor(req), note, b["kind"],
                                           b["reference"], b.get("amount"),
                                           idempotency_key=self.key(req))
            session.refresh(note)
            created(resp, _note_detail(session, note, self.ctx.now()))


def _todo(row) -> dict:
    return {"id": row.id, "kind": row.kind, "title": row.title, "detail": row.detail,
            "entity_type": row.entity_type, "entity_id": row.entity_id, "status": row.status,
            "resolution": row.resolution, "resolved_by": row.resolved_by,
            "created_at": s.when(row.created_at), "resolved_at": s.when(row.resolved_at)}


class Todos(Resource):
    """``GET /v1/todos?status=``: the exceptions worklist."""

    def on_get(self, req, resp):
        """List to-dos, newest first."""
        page, limit, _ = self.paging(req)
        with self.ctx.transaction() as session:
            result = casework.list_todos(session, self.tenant(req),
                                        self.query(req).get("status", "open"), page, limit)
            resp.media = s.page(result, [_todo(t) for t in result.items])


class TodoResolve(Resource):
    """``POST /v1/todos/{todo_id}/resolve``."""

    def on_post(self, req, resp, todo_id):
        """Resolve a to-do with a note of what was done."""
        with self.ctx.transaction() as session:
            row = casework.todo(session, self.tenant(req), int(todo_id))
            administration.resolve_todo(self.ctx, session, self.actor(req), row,
                                       self.body(req)["resolution"])
            resp.media = _todo(row)


class Audit(Resource):
    """``GET /v1/audit/{entity_type}/{entity_id}``: the trail of one entity."""

    def on_get(self, req, resp, entity_type, entity_id):
        """List audit rows, oldest first."""
        page, limit, _ = self.paging(req)
        with self.ctx.transaction() as session:
            result = casework.audit_of(session, self.tenant(req), entity_type, entity_id, page,
                                      limit)
            resp.media = s.page(result, [
                {"at": s.when(a.at), "actor": a.actor, "role": a.role, "action": a.action,
                 "entity_type": a.entity_type, "entity_id": a.entity_id, "before": a.before,
                 "after": a.after, "request_id": a.request_id} for a in result.items])


class Kpis(Resource):
    """``GET /v1/kpis``: the dashboard figures."""

    def on_get(self, req, resp):
        """Collected today and this month by channel and method, counts by status,
        outstanding total, unused credit, open to-dos."""
        q = self.query(req)
        with self.ctx.transaction() as session:
            resp.media = kpis.kpis(session, self.tenant(req), self.ctx.now(),
                                   month=q.get("month"), date_from=date_param(q.get("from")),
                                   date_to=date_param(q.get("to")))
        self.track(req, "dashboard.viewed")


def _event(row) -> dict:
    return {"id": row.id, "event_id": row.event_id, "type": row.event_type,
            "payment_number": row.payment_number, "status": row.status,
            "attempts": row.attempts, "last_error": row.last_error,
            "received_at": s.when(row.received_at), "processed_at": s.when(row.processed_at)}


class WebhookEvents(Resource):
    """``GET /v1/webhook-events?status=``: stored gateway events."""

    def on_get(self, req, resp):
        """List events, newest first."""
        page, limit, _ = self.paging(req)
        with self.ctx.transaction() as session:
            result = casework.list_gateway_events(session, self.tenant(req),
                                                 self.query(req).get("status"), page, limit)
            resp.media = s.page(result, [_event(e) for e in result.items])


class WebhookReplay(Resource):
    """``POST /v1/webhook-events/{event_id}/replay``: apply a stored event again."""

    def on_post(self, req, resp, event_id):
        """Replay (applying twice changes nothing: events are facts)."""
        with self.ctx.transaction() as session:
            casework.gateway_event(session, self.tenant(req), int(event_id))
        outcome = inbox.replay(self.ctx, int(event_id))
        with self.ctx.transaction() as session:
            media = _event(casework.gateway_event(session, self.tenant(req), int(event_id)))
        media["outcome"] = outcome
        resp.media = media


def add_routes(app, ctx) -> None:
    """Mount the back-office endpoints."""
    app.add_route("/v1/credit-notes", CreditNotes(ctx))
    app.add_route("/v1/credit-notes/{number}", CreditNoteDetail(ctx))
    app.add_route("/v1/credit-notes/{number}/apply", CreditNoteApply(ctx))
    app.add_route("/v1/todos", Todos(ctx))
    app.add_route("/v1/todos/{todo_id}/resolve", TodoResolve(ctx))
    app.add_route("/v1/audit/{entity_type}/{entity_id}", Audit(ctx))
    app.add_route("/v1/kpis", Kpis(ctx))
    app.add_route("/v1/webhook-events", WebhookEvents(ctx))
    app.add_route("/v1/webhook-events/{event_id}/replay", WebhookReplay(ctx))
