"""Payment plans over HTTP: make one, list them by compliance, one plan's standing,
reschedule, cancel, and record a payment against it. A change above the tenant's
``approvals.plan_change_above`` answers 202 with the pending approval."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core.host import plan_payments, plan_queries
from loket.core.host.plan_changes import plan_by_reference
from loket.core.models import Approval, PaymentPlan, Receivable
from loket.core.payments import approvals
from loket.server import approvals_api
from loket.server import serialize as s
from loket.server.base import Resource, created


def _installment(row: Receivable) -> dict[str, Any]:
    return {"reference": row.reference, "sequence": row.sequence, "period": row.period,
            "due_date": s.when(row.due_date), "amount": s.money(row.amount, row.currency),
            "paid": s.money(row.paid, row.currency),
            "status": "paid" if row.status == "open" and row.paid >= row.amount
            else row.status}


def plan_json(standing: plan_queries.PlanStanding) -> dict[str, Any]:
    """A plan and where it stands, as the API shows it."""
    plan, currency = standing.plan, standing.plan.currency
    return {
        "reference": plan.reference, "status": plan.status,
        "compliance": standing.compliance.value if standing.compliance else None,
        "consumer": s.consumer_ref(standing.consumer),
        "amount": s.money(standing.amount, currency),
        "down_payment": s.money(plan.down_payment, currency),
        "installments": plan.installment_count, "frequency": plan.frequency,
        "first_due_on": s.when(plan.first_due_on),
        "paid": s.money(standing.paid, currency),
        "remaining": s.money(standing.remaining, currency),
        "next_due": _installment(standing.next_due) if standing.next_due else None,
        "overdue_installments": len(standing.overdue),
        "missed_installments": plan.missed_installments,
        "schedule": [_installment(r) for r in standing.schedule],
        "items": [{"kind": r.kind, "reference": r.reference, "status": r.status}
                  for r in standing.items],
        "created_by": plan.created_by, "created_at": s.when(plan.created_at),
        "defaulted_at": s.when(plan.defaulted_at), "closed_at": s.when(plan.closed_at),
    }


class _PlanResource(Resource):
    def answer(self, session, resp: falcon.Response, outcome: PaymentPlan | Approval,
               status: str = falcon.HTTP_200) -> None:
        """The plan as it now stands, or 202 with the approval it waits for."""
        if isinstance(outcome, Approval):
            approvals_api.pending(resp, outcome)
            return
        resp.status = status
        resp.media = plan_json(plan_queries.standing(session, outcome, self.ctx.now()))


class PaymentPlans(_PlanResource):
    """``GET /v1/payment-plans`` (search, status, compliance, account) and ``POST`` (make
    one for an account from chosen items or an amount)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List plans, newest first, each with its standing."""
        q = self.query(req)
        page, limit, _ = self.paging(req)
        now = self.ctx.now()
        with self.ctx.transaction() as session:
            result = plan_queries.list_plans(session, self.tenant(req), plan_queries.PlanFilters(
                q=q.get("q"), status=q.get("status"), compliance=q.get("compliance"),
                account=q.get("account")), now, page, limit)
            resp.media = s.page(result, [plan_json(plan_queries.standing(session, p, now))
                                         for p in result.items])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Make a plan (201), or keep it for approval (202)."""
        request = {"action": "create", **self.body(req)}
        with self.ctx.transaction() as session:
            outcome = approvals.change_plan(self.ctx, session, self.actor(req),
                                            self.tenant(req), request,
                                            idempotency_key=self.key(req))
            self.answer(session, resp, outcome, falcon.HTTP_201)


class PaymentPlanDetail(_PlanResource):
    """``GET /v1/payment-plans/{reference}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """The plan: schedule, paid, remaining, next due, compliance."""
        with self.ctx.transaction() as session:
            self.answer(session, resp, plan_by_reference(session, self.tenant(req), reference))


class PaymentPlanChange(_PlanResource):
    """``POST /v1/payment-plans/{reference}/reschedule`` and ``/cancel``."""

    def __init__(self, ctx: Any, action: str):
        super().__init__(ctx)
        self.action = action

    def on_post(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """Change the plan (200), or keep the change for approval (202)."""
        request = {**self.body(req), "action": self.action, "plan": reference}
        with self.ctx.transaction() as session:
            outcome = approvals.change_plan(self.ctx, session, self.actor(req),
                                            self.tenant(req), request,
                                            idempotency_key=self.key(req))
            self.answer(session, resp, outcome)


class PaymentPlanPayments(Resource):
    """``POST /v1/payment-plans/{reference}/payments``: money taken against a plan."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """Record it (posted at once, to the unpaid installments oldest first)."""
        with self.ctx.transaction() as session:
            payment = plan_payments.record_plan_payment(
                self.ctx, session, self.actor(req), self.tenant(req), reference,
                self.body(req), idempotency_key=self.key(req))
            created(resp, s.payment_detail(session, payment, self.ctx.now()))


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the payment plan endpoints."""
    app.add_route("/v1/payment-plans", PaymentPlans(ctx))
    app.add_route("/v1/payment-plans/{reference}", PaymentPlanDetail(ctx))
    app.add_route("/v1/payment-plans/{reference}/reschedule",
                  PaymentPlanChange(ctx, "reschedule"))
    app.add_route("/v1/payment-plans/{reference}/cancel", PaymentPlanChange(ctx, "cancel"))
    app.add_route("/v1/payment-plans/{reference}/payments", PaymentPlanPayments(ctx))
