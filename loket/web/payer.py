"""The payer's pages (no sign-in): the result page a gateway sends the payer back to, in
the payer's language (``Accept-Language``, else the tenant's locale), phone-sized first."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.models import Payment
from loket.core.payments import returns
from loket.core.settings import load_settings
from loket.web import rendering
from loket.web.console.labels import status_label, status_tone


def wants_html(req: falcon.Request) -> bool:
    """Whether the caller is a browser: it prefers ``text/html`` to JSON (API clients that
    send ``*/*`` or nothing keep getting JSON)."""
    accept = req.get_header("Accept") or ""
    return "text/html" in accept and req.client_prefers(
        ["application/json", "text/html"]) == "text/html"


def answer_return(ctx: Any, req: falcon.Request, resp: falcon.Response, session: Any,
                  tenant_id: int, payment: Payment, result: str,
                  declined: str | None = None) -> None:
    """Answer a browser coming back from the gateway: a 303 to the tenant's ``return_url``
    with the signed result when it set one, else loket's result page.

    :param result: ``success`` or ``cancel``, as the signed return URL says.
    :param declined: the gateway's message about a declined attempt, if any.
    """
    settings = load_settings(session, tenant_id)
    target = settings.document.get("return_url")
    if target:
        resp.status = falcon.HTTP_303
        resp.location = returns.signed_result_url(
            returns.result_secrets(ctx, tenant_id), target, payment.number, payment.status,
            result, int(ctx.now().timestamp()))
        return
    locale = rendering.negotiate(req.get_header("Accept-Language"), settings["locale"])
    lines = [{"description": r.description or r.reference, "reference": r.reference,
              "period": r.period, "amount": a.amount}
             for a, r in queries.allocations(session, payment) if a.state != "void"]
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Cache-Control", "no-store")
    resp.text = rendering.render(
        "pay/return.html", locale, settings["timezone"], payment=payment, lines=lines,
        result=result, declined=declined, tenant_name=tenants.tenant_by_id(session,
                                                                           tenant_id).name,
        status_label=status_label, status_tone=status_tone,
        guest_url=f"/guest/{tenants.tenant_by_id(session, tenant_id).slug}/payments/"
                  f"{payment.number}" if payment.guest_session else None)
