"""Credit notes: the list with search and status, one note with where it was applied, and
applying it to one of the consumer's open items."""

from __future__ import annotations

import secrets as pysecrets

import falcon

from loket.core.backoffice import queries
from loket.core.payments import credit_notes
from loket.core.states import CreditNoteStatus
from loket.errors import LoketError
from loket.server import serialize
from loket.web import amounts
from loket.web.console.base import Page, Viewer, first, see_other
from loket.web.console.nav import N_
from loket.web.console.payments import page_number
from loket.web.console.problems import Problem

LIST = ("GET", "/v1/credit-notes")
DETAIL = ("GET", "/v1/credit-notes/{number}")
APPLY = ("POST", "/v1/credit-notes/{number}/apply")
STATUSES = tuple(s.value for s in CreditNoteStatus)
APPLY_INPUTS = ("item", "amount")


class CreditNotes(Page):
    """``GET /console/credit-notes?q=&status=``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List credit notes, newest first."""
        viewer = self.viewer(req, LIST)
        q = req.get_param("q") or ""
        status = req.get_param("status") or ""
        now = self.ctx.now()
        with self.ctx.transaction() as session:
            result = queries.list_credit_notes(
                session, viewer.principal.tenant_id,
                queries.CreditNoteFilters(q=q or None,
                                          status=status if status in STATUSES else None),
                now, page_number(req), 20)
            notes = [serialize.credit_note(n, now) for n in result.items]
            self.render(resp, "console/credit_notes.html", viewer, result=result, notes=notes,
                        q=q, state=status, statuses=STATUSES, active="/console/credit-notes",
                        wide=True)


class CreditNoteDetail(Page):
    """``GET /console/credit-notes/{number}`` with the apply form."""

    def show(self, req: falcon.Request, resp: falcon.Response,
             viewer: Viewer, number: str, *, notice: str | None = None,
             problem: Problem | None = None, form: dict | None = None,
             status: str = falcon.HTTP_200) -> None:
        """Render the note, its applications and the consumer's open items (after a refusal,
        the apply form as it was sent with each refused field's message under it)."""
        now = self.ctx.now()
        with self.ctx.transaction() as session:
            note = queries.credit_note(session, viewer.principal.tenant_id, number)
            view = serialize.credit_note(note, now)
            applications = [{"reference": r.reference, "kind": r.kind, "amount": a.amount,
                             "by": a.created_by, "at": a.created_at}
                            for a, r in queries.applications(session, note)]
            open_items = queries.items(session, note.consumer)
            self.render(resp, "console/credit_note.html", viewer, status=status, note=view,
                        currency=note.currency, applications=applications,
                        open_items=open_items, notice=notice, form=form or {},
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {},
                        may_apply=viewer.can(*APPLY) and view["status"] == "active",
                        form_key=pysecrets.token_urlsafe(16), active="/console/credit-notes",
                        amount_example=amounts.example(viewer.locale, note.currency))

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """The note."""
        viewer = self.viewer(req, DETAIL)
        _ = self.gettext(viewer)
        notice = _("Credit applied.") if req.get_param("done") else None
        self.show(req, resp, viewer, number, notice=notice)


class CreditNoteApply(Page):
    """``POST /console/credit-notes/{number}/apply``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """Apply (part of) the note to the chosen item."""
        viewer, form = self.posted(req, APPLY)
        kind, _sep, reference = first(form, "item").partition(":")
        try:
            with self.ctx.transaction() as session:
                note = queries.credit_note(session, viewer.principal.tenant_id, number)
                credit_notes.apply_credit_note(self.ctx, session, viewer.principal.actor(),
                                               note, kind, reference,
                                               self.amount(viewer, form, "amount",
                                                           N_("Amount"), note.currency),
                                               idempotency_key=first(form, "form_key") or None)
        except LoketError as exc:
            with self.ctx.transaction() as session:
                currency = queries.credit_note(session, viewer.principal.tenant_id,
                                               number).currency
            CreditNoteDetail(self.ctx).show(
                req, resp, viewer, number, form={k: v for k, v in form.items() if k != "csrf"},
                problem=self.explain(viewer, exc, APPLY_INPUTS, {"reference": "item"},
                                     currency),
                status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/credit-notes/{number}?done=applied")
