"""The payer's pages (no sign-in): the result page a gateway sends the payer back to, in
the payer's language (``Accept-Language``, else the tenant's locale), phone-sized first."""

from __future__ import annotations

from typing import Any

import falcon
from sqlalchemy import select

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.links import links
from loket.core.models import Consumer, Payment, PaymentLink, Tenant
from loket.core.outbox import messages
from loket.core.payments import payers, returns
from loket.core.settings import load_settings
from loket.web import rendering
from loket.web.console.labels import status_label, status_tone
from loket.web.console.nav import N_

# What a failed payment's category means to the payer, in words the catalog translates
# (the gateway's own message is shown too, as it gave it).
FAILURE_REASONS = {
    "declined": N_("Your bank or card issuer declined the payment."),
    "insufficient_funds": N_("There was not enough money for the payment."),
    "network": N_("The payment network could not be reached."),
    "technical": N_("The gateway had a technical problem."),
    "timeout": N_("The gateway did not answer in time."),
    "expired": N_("The payment page expired before the payment was made."),
}
# The channels a payer is reached on (``log`` is the operator's test channel).
PAYER_CHANNELS = ("email", "sms", "whatsapp")


def wants_html(req: falcon.Request) -> bool:
    """Whether the caller is a browser: it prefers ``text/html`` to JSON (API clients that
    send ``*/*`` or nothing keep getting JSON)."""
    accept = req.get_header("Accept") or ""
    return "text/html" in accept and req.client_prefers(
        ["application/json", "text/html"]) == "text/html"


def only_tenant(session: Any) -> Tenant | None:
    """The tenant of a single-tenant installation, or ``None`` when there are several: who
    a page about an unknown link or payment can speak for."""
    rows = session.scalars(select(Tenant).order_by(Tenant.id).limit(2)).all()
    return rows[0] if len(rows) == 1 else None


def start_failed(locale: str) -> str:
    """What a payment link's page says, in ``locale``, when the gateway could not start the
    checkout (the gateway's own words stay in the payment's record for staff)."""
    return rendering.translations(locale).gettext(
        "The gateway could not start the payment; please try again.")


def left_without_paying(payment: Payment, result: str) -> bool:
    """Whether the payer came back by the gateway's cancel button without a payment being
    refused: nothing was tried, so the page says they left rather than that it failed."""
    if result != "cancel":
        return False
    if payment.status == "failed":
        return payment.failure_category in (None, "abandoned")
    return payment.status in ("cancelled", "initiated")


def receipt_recipients(session: Any, tenant_id: int, payment: Payment) -> list[str]:
    """The addresses the "payment completed" message (with the receipt number) will reach:
    the payer's, on the tenant's channels for it. Called by the result pages of payers
    without an account (guests, links), who cannot open the receipt later."""
    consumer = session.get(Consumer, payment.consumer_id) if payment.consumer_id else None
    if consumer is None:
        return []
    settings = load_settings(session, tenant_id)
    channels = [c for c in messages.channels_for(settings, "payment.completed")
                if c in PAYER_CHANNELS]
    found = messages.recipients(payers.contact(payment, consumer), channels)
    return list(dict.fromkeys(address for _channel, address in found))


def receipt_note(session: Any, tenant_id: int, payment: Payment,
                 show_addresses: bool) -> dict[str, Any]:
    """What the result page of a payer without an account says about the coming receipt:
    ``receipt_to``, the addresses the message with its number goes to (shown to a guest,
    who typed them), and ``receipt_sent``, whether any message goes out at all (a payment
    link's page does not show the holder's addresses to whoever holds the link)."""
    found = receipt_recipients(session, tenant_id, payment)
    return {"receipt_to": found if show_addresses else [], "receipt_sent": bool(found)}


def _links_back(ctx: Any, session: Any, tenant: Tenant, payment: Payment) -> dict[str, Any]:
    """Where the result page sends the payer on: the payment link, the guest pages, or a
    signed-in consumer's payment and bills in the console."""
    if payment.payment_link_id is not None:
        link = session.get(PaymentLink, payment.payment_link_id)
        return {"link_url": links.url_of(ctx, link) if link else None}
    if payment.guest_session:
        return {"guest_url": f"/guest/{tenant.slug}/payments/{payment.number}",
                "slug": tenant.slug}
    if payment.is_test:
        return {}
    return {"console_url": f"/console/my-payments/{payment.number}"}


def answer_return(ctx: Any, req: falcon.Request, resp: falcon.Response, session: Any,
                  tenant_id: int, payment: Payment, result: str,
                  declined: str | None = None) -> None:
    """Answer a browser coming back from the gateway (a consumer's, a guest's or a payment
    link's payment): a 303 to the tenant's ``return_url`` with the signed result when it set
    one, else loket's result page.

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
    tenant = tenants.tenant_by_id(session, tenant_id)
    lines = [{"description": r.description or r.reference, "reference": r.reference,
              "period": r.period, "amount": a.amount}
             for a, r in queries.allocations(session, payment) if a.state != "void"]
    back = _links_back(ctx, session, tenant, payment)
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Cache-Control", "no-store")
    resp.set_header("Referrer-Policy", "no-referrer")  # the link's URL is its credential
    resp.text = rendering.render(
        "pay/return.html", locale, settings["timezone"], payment=payment, lines=lines,
        result=result, declined=declined, tenant_name=tenant.name,
        left=left_without_paying(payment, result),
        reason=FAILURE_REASONS.get(payment.failure_category or ""),
        status_label=status_label, status_tone=status_tone, **back,
        **receipt_note(session, tenant_id, payment, "guest_url" in back))


def invalid_return(ctx: Any, req: falcon.Request, resp: falcon.Response) -> None:
    """Answer a browser on a return URL whose signature is wrong or has expired: a 404 page
    saying the link is not valid (an API client gets the problem document instead)."""
    with ctx.transaction() as session:
        tenant = only_tenant(session)
        settings = load_settings(session, tenant.id) if tenant else None
    default = settings["locale"] if settings else rendering.DEFAULT_LOCALE
    resp.status = falcon.HTTP_404
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Cache-Control", "no-store")
    resp.text = rendering.render(
        "pay/invalid_return.html",
        rendering.negotiate(req.get_header("Accept-Language"), default),
        settings["timezone"] if settings else "UTC",
        **({"tenant_name": tenant.name} if tenant else {}))
