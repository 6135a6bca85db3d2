"""Payment plans at the console: the list with search, status and compliance, making one
for an account (from an amount or its chosen open items), and one plan with its schedule,
standing and the cancel and reschedule forms. The same core calls as
``/v1/payment-plans``: a change above the tenant's approval threshold is kept for a second
person, and the page says so."""

from __future__ import annotations

import secrets as pysecrets
from typing import Any

import falcon

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.host import plan_queries
from loket.core.host.obligations import status_of
from loket.core.host.plan_changes import PLANNABLE_KINDS, plan_by_reference
from loket.core.host.plan_schedule import Frequency
from loket.core.models import Approval
from loket.core.payments import approvals
from loket.core.states import PlanCompliance, PlanStatus
from loket.errors import LoketError, ValidationFailed
from loket.web.console.base import Page, Viewer, first, see_other, whole_number
from loket.web.console.nav import N_
from loket.web.console.payments import page_number
from loket.web.console.problems import Problem

LIST = ("GET", "/v1/payment-plans")
DETAIL = ("GET", "/v1/payment-plans/{reference}")
CREATE = ("POST", "/v1/payment-plans")
RESCHEDULE = ("POST", "/v1/payment-plans/{reference}/reschedule")
CANCEL = ("POST", "/v1/payment-plans/{reference}/cancel")
STATUSES = tuple(s.value for s in PlanStatus)
COMPLIANCES = tuple(c.value for c in PlanCompliance)
FREQUENCIES = tuple(f.value for f in Frequency)
NEW_INPUTS = ("items", "amount", "down_payment", "installments", "frequency", "first_due_on")
CHANGE_INPUTS = ("installments", "frequency", "first_due_on", "reason")


def _schedule_request(form: dict[str, list[str]]) -> dict[str, Any]:
    count = first(form, "installments")
    number = whole_number(count)
    return {"installments": count if number is None else number,
            "frequency": first(form, "frequency"),
            "first_due_on": first(form, "first_due_on")}


class Plans(Page):
    """``GET /console/plans?q=&status=&compliance=``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List plans, newest first, each with where it stands."""
        viewer = self.viewer(req, LIST)
        _ = self.gettext(viewer)
        q = req.get_param("q") or ""
        state = req.get_param("status") or ""
        compliance = req.get_param("compliance") or ""
        now = self.ctx.now()
        with self.ctx.transaction() as session:
            result = plan_queries.list_plans(
                session, viewer.principal.tenant_id, plan_queries.PlanFilters(
                    q=q or None, status=state if state in STATUSES else None,
                    compliance=compliance if compliance in COMPLIANCES else None),
                now, page_number(req), 20)
            rows = [plan_queries.standing(session, p, now) for p in result.items]
            notice = {"waiting": _("Above the approval threshold: the plan waits for a "
                                   "second person to approve it.")
                      }.get(req.get_param("done") or "")
            self.render(resp, "console/plans.html", viewer, result=result, rows=rows, q=q,
                        state=state, statuses=STATUSES, compliance=compliance,
                        compliances=COMPLIANCES, notice=notice,
                        may_create=viewer.can(*CREATE),
                        installment_status=status_of, active="/console/plans",
                        wide=True)


class NewPlan(Page):
    """``GET /console/plans/new?account=`` (the form) and ``POST`` (make the plan)."""

    def show(self, resp: falcon.Response, viewer: Viewer, account: str, *,
             form: dict | None = None, problem: Problem | None = None,
             status: str = falcon.HTTP_200) -> None:
        """The form over the account and its open items (or the account chooser); after a
        refusal, as it was sent with each refused field's message under it."""
        consumer, open_items = None, []
        with self.ctx.transaction() as session:
            if account:
                try:
                    consumer = tenants.consumer_by_account(session, viewer.principal.tenant_id,
                                                           account)
                    open_items = [r for r in queries.items(session, consumer)
                                  if r.kind in PLANNABLE_KINDS]
                except LoketError as exc:
                    problem = problem or self.explain(viewer, exc, ("account_number",))
            self.render(resp, "console/plan_new.html", viewer, status=status,
                        account=account, consumer=consumer, open_items=open_items,
                        form=form or {}, errors=problem.fields if problem else {},
                        error=problem.banner if problem else None,
                        frequencies=FREQUENCIES, form_key=pysecrets.token_urlsafe(16),
                        active="/console/plans")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The form."""
        viewer = self.viewer(req, CREATE)
        self.show(resp, viewer, (req.get_param("account") or "").strip())

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Make the plan and show it, or keep it for approval and say so (the form's key
        makes a double submit make one)."""
        viewer, form = self.posted(req, CREATE)
        account = first(form, "account_number").strip()
        chosen = [v.partition(":") for v in form.get("item", []) if v]
        try:
            request = {"action": "create", "account_number": account,
                       **_schedule_request(form),
                       "items": [{"kind": k, "reference": r} for k, _sep, r in chosen] or None,
                       "amount": self.amount(viewer, form, "amount", N_("Amount")),
                       "down_payment": self.amount(viewer, form, "down_payment",
                                                   N_("Down payment"))}
            with self.ctx.transaction() as session:
                outcome = approvals.change_plan(self.ctx, session, viewer.principal.actor(),
                                                viewer.principal.tenant_id, request,
                                                idempotency_key=first(form, "form_key") or None)
                reference = None if isinstance(outcome, Approval) else outcome.reference
        except LoketError as exc:
            self.show(resp, viewer, account, form=form,
                      problem=self.explain(viewer, exc, NEW_INPUTS),
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/plans?done=waiting" if reference is None
                  else f"/console/plans/{reference}?done=created")


class PlanDetail(Page):
    """``GET /console/plans/{reference}``."""

    def show(self, resp: falcon.Response, viewer: Viewer, reference: str, *,
             notice: str | None = None, form: dict | None = None,
             problem: Problem | None = None, failed: str = "",
             status: str = falcon.HTTP_200) -> None:
        """The plan, its schedule and standing, and its forms (``failed``: the form the
        errors belong to)."""
        with self.ctx.transaction() as session:
            plan = plan_by_reference(session, viewer.principal.tenant_id, reference)
            standing = plan_queries.standing(session, plan, self.ctx.now())
            changeable = plan.status in (PlanStatus.ACTIVE, PlanStatus.DEFAULTED)
            self.render(resp, "console/plan.html", viewer, status=status, s=standing,
                        plan=plan, notice=notice, form=form or {},
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {},
                        failed=failed, frequencies=FREQUENCIES,
                        installment_status=status_of, form_key=pysecrets.token_urlsafe(16),
                        may_cancel=changeable and viewer.can(*CANCEL),
                        may_reschedule=changeable and viewer.can(*RESCHEDULE),
                        active="/console/plans")

    def on_get(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """The plan."""
        viewer = self.viewer(req, DETAIL)
        _ = self.gettext(viewer)
        notice = {"created": _("Payment plan created."),
                  "rescheduled": _("Payment plan rescheduled."),
                  "cancelled": _("Payment plan cancelled."),
                  "waiting": _("Above the approval threshold: the change waits for a second "
                               "person to approve it.")}.get(req.get_param("done") or "")
        self.show(resp, viewer, reference, notice=notice)


class PlanChange(Page):
    """``POST /console/plans/{reference}/reschedule`` and ``/cancel``."""

    def __init__(self, ctx: Any, action: str):
        super().__init__(ctx)
        self.action = action

    def on_post(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """Change the plan, or keep the change for approval (once for a double submit);
        errors show on the form."""
        viewer, form = self.posted(req, RESCHEDULE if self.action == "reschedule"
                                   else CANCEL)
        request: dict[str, Any] = {"action": self.action, "plan": reference,
                                   "reason": first(form, "reason").strip()}
        if self.action == "reschedule":
            request.update(_schedule_request(form))
        try:
            if self.action == "cancel" and not request["reason"]:
                raise ValidationFailed("give the reason for cancelling", field="reason")
            with self.ctx.transaction() as session:
                outcome = approvals.change_plan(self.ctx, session, viewer.principal.actor(),
                                                viewer.principal.tenant_id, request,
                                                idempotency_key=first(form, "form_key") or None)
                waiting = isinstance(outcome, Approval)
        except LoketError as exc:
            PlanDetail(self.ctx).show(resp, viewer, reference, form=form,
                                      problem=self.explain(viewer, exc, CHANGE_INPUTS),
                                      failed=self.action,
                                      status=falcon.code_to_http_status(exc.status))
            return
        done = "waiting" if waiting else {"cancel": "cancelled"}.get(self.action,
                                                                     "rescheduled")
        see_other(resp, f"/console/plans/{reference}?done={done}")
