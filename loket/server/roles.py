"""THE role matrix: which roles may call each operation. Enforced in one place
(:class:`loket.server.auth.AuthMiddleware`), documented in ``docs/api.md`` and tested as a
matrix (every role x every operation -> allowed or 403).

Summary: only a tenant admin configures gateways; consumers pay (their own account only);
staff record and view payments; posted payments are edited (notes, cancel) only by admins
(tenant_admin, cso_admin); money going back out (refunds, credit notes) needs an admin or a
billing manager.
"""

from __future__ import annotations

from loket.core.tenants import ROLES, STAFF_ROLES

ADMIN = ("tenant_admin",)
ADMINS = ("tenant_admin", "cso_admin")
STAFF = STAFF_ROLES
CONSUMER = ("consumer",)
MONEY_OUT = ("tenant_admin", "cso_admin", "billing_manager")
RECORDERS = ("tenant_admin", "cso_admin", "cso_executive", "billing_manager",
             "customer_executive")
VERIFIERS = ("tenant_admin", "cso_admin", "cso_executive", "billing_manager")
HOST = ("tenant_admin", "billing_manager")
AUDITORS = ("tenant_admin", "cso_admin", "billing_manager")
PAYERS = ("consumer", "cso_admin", "cso_executive", "customer_executive")
# Who may act as a consumer (a token sees and pays that account, auto-pay included): the
# host's back end (HOST) and the staff who pay for payers, not every staff role.
TOKEN_ISSUERS = HOST + PAYERS[1:]
# Who makes and changes payment plans and takes money against them.
PLANNERS = ("tenant_admin", "cso_admin", "billing_manager", "recovery_executive")
# Who may send a payment link: the host (tenant admin, billing) and staff who collect.
LINK_SENDERS = ("tenant_admin", "cso_admin", "cso_executive", "billing_manager",
                "recovery_executive", "customer_executive")

# Operations anyone may call (their own checks apply: signatures, signed URLs).
PUBLIC = frozenset({
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/webhooks/{gateway}/{token}"),
    ("GET", "/v1/return/{number}"),
    # guest payments: identify is open (rate limited); the rest check the payer token
    ("POST", "/v1/public/{tenant}/identify"),
    ("GET", "/v1/public/{tenant}/guest/items"),
    ("POST", "/v1/public/{tenant}/guest/checkout"),
    ("POST", "/v1/public/{tenant}/guest/destinations/{name}/payments"),
    ("GET", "/v1/public/{tenant}/guest/payments/{number}"),
    ("GET", "/v1/public/{tenant}/guest/payments/{number}/receipt"),
    ("GET", "/v1/mandate-return/{reference}"),
    ("GET", "/pay/{token}"),
    ("POST", "/pay/{token}"),
    # operators' tools: no tenant data (kept on the internal network)
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
})

MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    # gateways (tenant admin)
    ("GET", "/v1/settings"): ADMINS,
    ("PUT", "/v1/settings"): ADMIN,
    ("GET", "/v1/gateways"): ADMIN,
    ("GET", "/v1/gateways/{kind}"): ADMIN,
    ("PUT", "/v1/gateways/{kind}/active"): ADMIN,
    ("PUT", "/v1/gateways/{kind}/credentials"): ADMIN,
    ("POST", "/v1/gateways/{kind}/connect"): ADMIN,
    ("GET", "/v1/gateways/{kind}/test"): ADMIN,
    # consumer (CX web and app)
    ("GET", "/v1/me"): CONSUMER,
    ("GET", "/v1/me/items"): CONSUMER,
    ("GET", "/v1/me/gateways"): CONSUMER,
    ("POST", "/v1/me/checkout"): CONSUMER,
    ("GET", "/v1/me/payments"): CONSUMER,
    ("GET", "/v1/me/payments/{number}"): CONSUMER,
    ("GET", "/v1/me/payments/{number}/receipt"): CONSUMER,
    # staff: consumers
    ("GET", "/v1/consumers"): STAFF,
    ("GET", "/v1/consumers/{account}"): STAFF,
    ("GET", "/v1/consumers/{account}/payables"): STAFF,
    ("POST", "/v1/consumers/{account}/token"): TOKEN_ISSUERS,
    # staff: payments
    ("GET", "/v1/payments"): STAFF,
    ("POST", "/v1/payments/counter"): RECORDERS,
    ("GET", "/v1/payments/{number}"): STAFF,
    ("PATCH", "/v1/payments/{number}"): ADMINS,
    ("POST", "/v1/payments/{number}/cancel"): ADMINS,
    ("POST", "/v1/payments/{number}/verify"): VERIFIERS,
    ("POST", "/v1/payments/{number}/retry-application"): VERIFIERS,
    ("POST", "/v1/payments/{number}/refunds"): MONEY_OUT,
    ("POST", "/v1/payments/{number}/credit-notes"): MONEY_OUT,
    # staff: credit notes
    ("GET", "/v1/credit-notes"): STAFF,
    ("GET", "/v1/credit-notes/{number}"): STAFF,
    ("POST", "/v1/credit-notes/{number}/apply"): MONEY_OUT + ("cso_executive",),
    # staff: worklist, audit, KPIs, webhooks
    ("GET", "/v1/todos"): STAFF,
    ("POST", "/v1/todos/{todo_id}/resolve"): VERIFIERS + ("recovery_executive",),
    ("GET", "/v1/audit/{entity_type}/{entity_id}"): AUDITORS,
    ("POST", "/v1/gateways/{kind}/settlement-reports"): AUDITORS,
    ("POST", "/v1/reconciliation/fetch"): AUDITORS,
    ("POST", "/v1/reconciliation/bank-statements"): AUDITORS,
    ("POST", "/v1/gateways/{kind}/settlement-report-files"): AUDITORS,
    ("POST", "/v1/reconciliation/bank-statement-files"): AUDITORS,
    ("GET", "/v1/reconciliation/runs"): AUDITORS,
    ("POST", "/v1/reconciliation/runs"): AUDITORS,
    ("GET", "/v1/reconciliation/runs/{run_id}"): AUDITORS,
    ("GET", "/v1/reconciliation"): AUDITORS,
    ("GET", "/v1/kpis"): STAFF,
    ("GET", "/v1/webhook-events"): ADMINS,
    ("POST", "/v1/webhook-events/{event_id}/replay"): ADMINS,
    # destinations (OPC web services)
    ("GET", "/v1/destinations"): STAFF + CONSUMER,
    ("GET", "/v1/destinations/{name}/due"): STAFF + CONSUMER,
    ("POST", "/v1/destinations/{name}/validate"): STAFF + CONSUMER,
    ("POST", "/v1/destinations/{name}/prepare"): STAFF + CONSUMER,
    ("POST", "/v1/destinations/{name}/payments"): PAYERS,
    # host data
    ("POST", "/v1/host/consumers"): HOST,
    ("POST", "/v1/host/consumers/bulk"): HOST,
    ("POST", "/v1/host/receivables"): HOST,
    ("POST", "/v1/host/receivables/bulk"): HOST,
    ("POST", "/v1/host/agreements"): HOST,
    # mandates and auto-pay
    ("GET", "/v1/me/mandates"): CONSUMER,
    ("POST", "/v1/me/mandates"): CONSUMER,
    ("DELETE", "/v1/me/mandates/{mandate_id}"): CONSUMER,
    ("GET", "/v1/me/autopay"): CONSUMER,
    ("PUT", "/v1/me/autopay"): CONSUMER,
    ("GET", "/v1/consumers/{account}/mandates"): STAFF,
    ("GET", "/v1/consumers/{account}/autopay"): STAFF,
    ("PUT", "/v1/consumers/{account}/autopay"): ("tenant_admin",) + tuple(
        r for r in PAYERS if r != "consumer"),
    # back-office reports
    ("GET", "/v1/kpis/trends"): STAFF,
    ("GET", "/v1/payments/export"): AUDITORS,
    ("GET", "/v1/credit-notes/export"): AUDITORS,
    ("GET", "/v1/payments/{number}/receipt"): STAFF,
    # disputes: recorded and seen through by those who may give money back
    ("POST", "/v1/payments/{number}/disputes"): MONEY_OUT + ("recovery_executive",),
    ("GET", "/v1/disputes"): STAFF,
    ("GET", "/v1/disputes/{dispute_id}"): STAFF,
    ("POST", "/v1/disputes/{dispute_id}/notes"): MONEY_OUT + ("recovery_executive",),
    ("POST", "/v1/disputes/{dispute_id}/status"): MONEY_OUT,
    # approvals (maker-checker; the tenant's approver_roles and "never the maker" apply)
    ("GET", "/v1/approvals"): MONEY_OUT,
    ("POST", "/v1/approvals/{approval_id}/approve"): MONEY_OUT,
    ("POST", "/v1/approvals/{approval_id}/reject"): MONEY_OUT,
    # payment plans (changes above the tenant's threshold wait for approval)
    ("GET", "/v1/payment-plans"): STAFF,
    ("POST", "/v1/payment-plans"): PLANNERS,
    ("GET", "/v1/payment-plans/{reference}"): STAFF,
    ("POST", "/v1/payment-plans/{reference}/reschedule"): PLANNERS,
    ("POST", "/v1/payment-plans/{reference}/cancel"): PLANNERS,
    ("POST", "/v1/payment-plans/{reference}/payments"): PLANNERS,
    # payment links (staff and host) and events to the host
    ("GET", "/v1/payment-links"): STAFF,
    ("POST", "/v1/payment-links"): LINK_SENDERS,
    ("GET", "/v1/payment-links/{link_id}"): STAFF,
    ("POST", "/v1/payment-links/{link_id}/cancel"): LINK_SENDERS,
    ("POST", "/v1/payment-links/{link_id}/send"): LINK_SENDERS,
    ("GET", "/v1/host/webhook-endpoints"): HOST,
    ("POST", "/v1/host/webhook-endpoints"): HOST,
    ("DELETE", "/v1/host/webhook-endpoints/{endpoint_id}"): HOST,
    ("POST", "/v1/host/webhook-endpoints/{endpoint_id}/rotate-secret"): ADMIN,
    ("GET", "/v1/host/webhook-endpoints/{endpoint_id}/deliveries"): HOST,
    ("POST", "/v1/host/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay"): HOST,
    ("GET", "/v1/host/events"): HOST,
}


def allowed(method: str, template: str) -> tuple[str, ...]:
    """The roles that may call ``method template`` (empty: nobody)."""
    return MATRIX.get((method, template), ())


def markdown_table() -> str:
    """The matrix as the Markdown table of ``docs/api.md`` (one column per role)."""
    head = "| operation | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [f"| `{method} {path}` | " + " | ".join("yes" if r in roles else "—" for r in ROLES)
            + " |" for (method, path), roles in MATRIX.items()]
    return "\n".join([head, rule, *rows])
