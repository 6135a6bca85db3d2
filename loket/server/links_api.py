"""Payment links: the staff and host API (``/v1/payment-links``) and the payer's page
(``/pay/{token}``, no login: the signed token is the credential)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs

import falcon

from loket.core.gateway_configs import configs
from loket.core.links import links, state
from loket.core.models import Consumer, PaymentLink, Tenant
from loket.core.payments import minimum_charge
from loket.core.settings import load_settings
from loket.errors import Conflict, GatewayError, LoketError, NotFound, ValidationFailed
from loket.money import Money
from loket.server import serialize as s
from loket.server.base import Resource, created
from loket.web import amounts, payer
from loket.web.refusals import refusal
from loket.web.rendering import DEFAULT_LOCALE, negotiate, render


def link_json(ctx: Any, session: Any, link: PaymentLink) -> dict[str, Any]:
    """A payment link as the API shows it."""
    consumer = session.get(Consumer, link.consumer_id)
    rows = state.receivables_of(session, link)
    owed = sum(r.amount - r.paid for r in rows if r.status == "open")
    return {"id": link.key, "url": links.url_of(ctx, link), "status": link.status,
            "account_number": consumer.account_number, "consumer": s.consumer_ref(consumer),
            "items": None if link.receivable_ids is None else [s.item(r) for r in rows],
            "everything_open": link.receivable_ids is None,
            "amount_policy": link.amount_policy,
            "minimum": s.money(link.minimum, link.currency),
            "outstanding": s.money(owed, link.currency), "multi_use": link.multi_use,
            "channels": list(link.channels), "description": link.description,
            "expires_at": s.when(link.expires_at), "created_at": s.when(link.created_at),
            "created_by": link.created_by, "paid_at": s.when(link.paid_at),
            "cancelled_at": s.when(link.cancelled_at),
            "last_sent_at": s.when(link.last_sent_at)}


class PaymentLinks(Resource):
    """``GET /v1/payment-links`` (filters) and ``POST`` (create and send)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List links, newest first."""
        page, limit, newest = self.paging(req)
        q = self.query(req)
        with self.ctx.transaction() as session:
            result = links.list_links(session, self.tenant(req), q.get("status"),
                                      q.get("account"), page, limit, newest)
            resp.media = s.page(result, [link_json(self.ctx, session, r) for r in result.items])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create a link; it is sent on its channels through the outbox."""
        b = self.body(req)
        expires = b.get("expires_at")
        request = links.LinkRequest(
            account_number=b["account_number"],
            items=None if b.get("items") in (None, "all_open") else b["items"],
            amount_policy=b.get("amount_policy", "full"), minimum=b.get("minimum"),
            expires_at=dt.datetime.fromisoformat(expires).astimezone(dt.UTC)
            if expires else None,
            multi_use=b.get("multi_use", False), channels=tuple(b.get("channels", ())),
            description=b.get("description", ""))
        with self.ctx.transaction() as session:
            link = links.create_link(self.ctx, session, self.actor(req), self.tenant(req),
                                     request)
            created(resp, link_json(self.ctx, session, link))


class PaymentLinkDetail(Resource):
    """``GET /v1/payment-links/{link_id}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        """One link with its items and state."""
        with self.ctx.transaction() as session:
            link = links.get_link(session, self.tenant(req), link_id)
            state.refresh(session, link, self.ctx.now())
            resp.media = link_json(self.ctx, session, link)


class PaymentLinkCancel(Resource):
    """``POST /v1/payment-links/{link_id}/cancel``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        """Cancel an active link."""
        with self.ctx.transaction() as session:
            link = links.get_link(session, self.tenant(req), link_id)
            link = links.cancel_link(self.ctx, session, self.actor(req), link)
            resp.media = link_json(self.ctx, session, link)


class PaymentLinkSend(Resource):
    """``POST /v1/payment-links/{link_id}/send``: send the link again."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        """Send on the given channels (default the link's own)."""
        channels = self.body(req).get("channels")
        with self.ctx.transaction() as session:
            link = links.get_link(session, self.tenant(req), link_id)
            link = links.send_link(self.ctx, session, self.actor(req), link, channels)
            resp.media = link_json(self.ctx, session, link)


class PayPage:
    """``GET /pay/{token}``: the payer's page; ``POST`` (form: ``gateway``, ``amount``)
    starts the checkout and redirects (303) to the gateway. Plain HTML forms, no script."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def _html(self, resp: falcon.Response, text: str, status: str = falcon.HTTP_200) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("Referrer-Policy", "no-referrer")
        resp.text = text

    def locale(self, req: falcon.Request, session: Any, link: PaymentLink) -> str:
        """The payer's language (``Accept-Language``), else the tenant's: the page's
        words, and how its amounts are written and read."""
        return negotiate(req.get_header("Accept-Language"),
                         load_settings(session, link.tenant_id)["locale"])

    def page(self, req: falcon.Request, session: Any, link: PaymentLink, token: str,
             error: str | LoketError | None = None, amount_value: str = "",
             state_override: str | None = None) -> str:
        """Render ``pay/link.html`` for a link in the payer's language (``Accept-Language``,
        else the tenant's); ``error`` is said on its form (a refusal in that language, see
        :func:`loket.web.refusals.refusal`)."""
        now = self.ctx.now()
        status = state.refresh(session, link, now)
        settings = load_settings(session, link.tenant_id)
        locale = self.locale(req, session, link)
        consumer = session.get(Consumer, link.consumer_id)
        tenant = session.get(Tenant, link.tenant_id)
        currency = link.currency
        # A link that no longer stands for a payment (cancelled, expired, used up) shows its
        # state only: whoever still holds the URL does not see the account's name or bills,
        # nor the bills issued since.
        closed = status is not state.LinkStatus.ACTIVE
        rows = [] if closed else state.receivables_of(session, link)
        shown = [r for r in rows if r.status == "open" or link.receivable_ids is not None]
        payable = links.payable(session, link, now) if status == state.LinkStatus.ACTIVE else []
        page_state = state_override or str(status)
        if page_state == "active" and links.used(session, link):
            page_state, payable = "used", []
        elif page_state == "active" and not payable:
            page_state = "in_progress" if links.outstanding_for(session, link) > 0 else "paid"
        to_pay = sum(left for _, left in payable)
        gateways, floors = [], []
        for row in configs.usable_gateways(self.ctx, session, link.tenant_id):
            d = self.ctx.plugins.gateways[row.kind]
            gateways.append({"kind": row.kind, "display_name": d.display_name,
                             "logo_url": d.logo_url})
            floors.append(minimum_charge.minimum_of(d, currency).amount)
        # The hint says the least some gateway takes, when that is more than the link's.
        least = max(link.minimum or 0, min(floors, default=0))
        minimum = min(least, to_pay) if link.amount_policy == "partial" else to_pay
        if isinstance(error, GatewayError):
            error = payer.start_failed(locale)
        elif isinstance(error, LoketError):
            error = refusal(error, locale, currency)
        return render(
            "pay/link.html", locale, settings["timezone"], tenant_name=tenant.name,
            state=page_state, consumer_name="" if closed else consumer.name,
            account_number="" if closed else consumer.account_number,
            items=[{"kind": r.kind, "reference": r.reference, "description": r.description,
                    "period": r.period, "due_date": r.due_date,
                    "amount": Money(r.amount, currency), "paid": Money(r.paid, currency),
                    "outstanding": Money(r.amount - r.paid, currency)} for r in shown],
            already_paid=Money(sum(r.paid for r in shown), currency),
            total_due=Money(sum(r.amount - r.paid for r in shown if r.status == "open"),
                            currency),
            payable=Money(to_pay, currency), currency=currency,
            allow_partial=link.amount_policy == "partial",
            minimum=Money(max(minimum, 0), currency), gateways=gateways, pay_error=error,
            amount_value=amount_value, amount_example=amounts.example(locale, currency),
            action_url=f"/pay/{token}",
            expires_at=link.expires_at)

    def _missing(self, req: falcon.Request, resp: falcon.Response, session: Any) -> None:
        """The 404 page of an unknown or forged link: in the payer's language, named for the
        tenant when the installation has only one."""
        tenant = payer.only_tenant(session)
        settings = load_settings(session, tenant.id) if tenant else None
        locale = negotiate(req.get_header("Accept-Language"),
                           settings["locale"] if settings else DEFAULT_LOCALE)
        self._html(resp, render("pay/missing.html", locale,
                                **({"tenant_name": tenant.name} if tenant else {})),
                   falcon.HTTP_404)

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        """Show the link: items, what is paid, gateways, the amount field."""
        with self.ctx.transaction() as session:
            try:
                link = links.link_by_token(self.ctx, session, token)
            except NotFound:
                self._missing(req, resp, session)
                return
            self._html(resp, self.page(req, session, link, token))

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        """Start the checkout and send the payer to the gateway."""
        raw = req.bounded_stream.read(self.ctx.config.max_body_bytes).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw).items()}
        typed = (form.get("amount") or "").strip()
        failure: GatewayError | None = None
        with self.ctx.transaction() as session:
            try:
                link = links.link_by_token(self.ctx, session, token)
            except NotFound:
                self._missing(req, resp, session)
                return
            try:
                amount = amounts.plain_amount(
                    typed, self.locale(req, session, link), link.currency, field="amount",
                    label=amounts.N_("Amount to pay")) or None
                payment = links.pay(self.ctx, session, link, form.get("gateway") or "",
                                    amount)
            except ValidationFailed as exc:
                self._html(resp, self.page(req, session, link, token, exc, typed),
                           falcon.HTTP_422)
                return
            except Conflict as exc:
                self._html(resp, self.page(req, session, link, token, exc),
                           falcon.HTTP_409)
                return
            if payment.status == "failed":
                failure = GatewayError("the gateway could not start the payment",
                                       gateway_message=payment.failure_message)
                text = self.page(req, session, link, token, failure, typed)
            else:
                target = payment.redirect_url or f"/pay/{token}"
        if failure is not None:
            self._html(resp, text, falcon.HTTP_502)
            return
        raise falcon.HTTPSeeOther(target)


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the payment-link endpoints and the payer's page."""
    app.add_route("/v1/payment-links", PaymentLinks(ctx))
    app.add_route("/v1/payment-links/{link_id}", PaymentLinkDetail(ctx))
    app.add_route("/v1/payment-links/{link_id}/cancel", PaymentLinkCancel(ctx))
    app.add_route("/v1/payment-links/{link_id}/send", PaymentLinkSend(ctx))
    app.add_route("/pay/{token}", PayPage(ctx))
