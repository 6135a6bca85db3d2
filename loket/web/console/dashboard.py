"""The billing manager's dashboard (today's and this month's figures) and the to-do
worklist with its resolve form."""

from __future__ import annotations

import falcon

from loket.core.backoffice import administration, casework, kpis, queries, trends
from loket.errors import LoketError, NotFound
from loket.web.console import charts
from loket.web.console.base import Page, Viewer, at_most, see_other, whole_number
from loket.web.console.payments import page_number
from loket.web.console.problems import Problem

KPIS = ("GET", "/v1/kpis")
TODOS = ("GET", "/v1/todos")
RESOLVE = ("POST", "/v1/todos/{todo_id}/resolve")
RESOLUTION_MAX = 2000  # the API's maxLength of ``resolution``


class Dashboard(Page):
    """``GET /console/dashboard``: collected today and this month (by channel and method),
    outstanding, unused credit, payments by status, open to-dos."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Show the figures."""
        viewer = self.viewer(req, KPIS)
        with self.ctx.transaction() as session:
            figures = kpis.kpis(session, viewer.principal.tenant_id, self.ctx.now())
            trend = trends.trends(session, viewer.principal.tenant_id, self.ctx.now())
            recent = queries.list_payments(session, viewer.principal.tenant_id,
                                           queries.PaymentFilters(), 1, 5)
            self.render(resp, "console/dashboard.html", viewer, k=figures, recent=recent,
                        trend=trend, bars=charts.bars(trend), chart=charts,
                        active="/console/dashboard", wide=True,
                        may_todos=viewer.can(*TODOS),
                        may_record=viewer.can("POST", "/v1/payments/counter"))


class Todos(Page):
    """``GET /console/todos?status=open|resolved``: the exceptions worklist."""

    def show(self, req: falcon.Request, resp: falcon.Response,
             viewer: Viewer, *, notice: str | None = None,
             problem: Problem | None = None, failed: int = 0, form: dict | None = None,
             status: str = falcon.HTTP_200) -> None:
        """Render the worklist (``failed``: the to-do whose form was refused, shown as it
        was sent with its message)."""
        state = req.get_param("status") or "open"
        state = state if state in ("open", "resolved") else "open"
        with self.ctx.transaction() as session:
            result = casework.list_todos(session, viewer.principal.tenant_id, state,
                                        page_number(req), 20)
            self.render(resp, "console/todos.html", viewer, status=status, result=result,
                        state=state, notice=notice, error=problem.banner if problem else None,
                        errors=problem.fields if problem else {}, failed=failed,
                        form=form or {}, active="/console/todos",
                        may_resolve=viewer.can(*RESOLVE))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The to-dos."""
        viewer = self.viewer(req, TODOS)
        _ = self.gettext(viewer)
        notice = _("To-do resolved.") if req.get_param("done") else None
        self.show(req, resp, viewer, notice=notice)


class TodoResolve(Page):
    """``POST /console/todos/{todo_id}/resolve``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, todo_id: str) -> None:
        """Close the to-do with what was done."""
        viewer, form = self.posted(req, RESOLVE)
        number = whole_number(todo_id)
        if number is None:
            raise NotFound(f"no to-do {todo_id!r}")
        try:
            resolution = at_most(form, "resolution", RESOLUTION_MAX)
            with self.ctx.transaction() as session:
                row = casework.todo(session, viewer.principal.tenant_id, number)
                administration.resolve_todo(self.ctx, session, viewer.principal.actor(), row,
                                            resolution)
        except LoketError as exc:
            Todos(self.ctx).show(req, resp, viewer,
                                 problem=self.explain(viewer, exc, ("resolution",)),
                                 failed=number, form=form,
                                 status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/todos?done=1")
