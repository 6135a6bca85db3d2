"""Payment links at the console: the list by state, creating one for an account (all its
open items or the chosen ones, full or partial, sent on the chosen channels), sending it
again and cancelling it. The same core functions as ``/v1/payment-links``."""

from __future__ import annotations

import falcon

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.links import links, state
from loket.errors import LoketError
from loket.web.console.base import Page, Viewer, at_most, first, see_other
from loket.web.console.nav import N_
from loket.web.console.payments import page_number
from loket.web.console.problems import Problem

LIST = ("GET", "/v1/payment-links")
CREATE = ("POST", "/v1/payment-links")
SEND = ("POST", "/v1/payment-links/{link_id}/send")
CANCEL = ("POST", "/v1/payment-links/{link_id}/cancel")
STATUSES = tuple(s.value for s in state.LinkStatus)
DESCRIPTION_MAX = 300  # the API's maxLength (and the column's)
INPUTS = ("item", "amount_policy", "minimum", "description", "multi_use", "channel")
ALIASES = {"items": "item", "channels": "channel"}


class PaymentLinks(Page):
    """``GET /console/payment-links?status=&account=`` and ``POST`` (create)."""

    def show(self, req: falcon.Request, resp: falcon.Response, viewer: Viewer, *,
             form: dict | None = None, notice: str | None = None,
             problem: Problem | None = None, status: str = falcon.HTTP_200) -> None:
        """The list, the creation form (with the account's open items once chosen; after a
        refusal, as it was sent with each refused field's message under it)."""
        form = form or {}
        wanted = req.get_param("status") or ""
        account = first(form, "account_number") or req.get_param("account") or ""
        now = self.ctx.now()
        with self.ctx.transaction() as session:
            result = links.list_links(session, viewer.principal.tenant_id,
                                      wanted if wanted in STATUSES else None, None,
                                      page_number(req), 20)
            rows = []
            for link in result.items:
                state.refresh(session, link, now)
                rows.append({"link": link, "url": links.url_of(self.ctx, link),
                             "owed": links.outstanding_for(session, link),
                             "consumer": link.consumer})
            consumer = open_items = None
            if account:
                try:
                    consumer = tenants.consumer_by_account(session, viewer.principal.tenant_id,
                                                           account)
                    open_items = queries.items(session, consumer)
                except LoketError:
                    consumer = None
            self.render(resp, "console/payment_links.html", viewer, status=status, rows=rows,
                        result=result, state=wanted, statuses=STATUSES, form=form,
                        account=account, consumer=consumer, open_items=open_items or [],
                        channels=sorted(self.ctx.plugins.channels), notice=notice,
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {}, may_create=viewer.can(*CREATE),
                        may_send=viewer.can(*SEND), active="/console/payment-links",
                        wide=True)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The links."""
        viewer = self.viewer(req, LIST)
        _ = self.gettext(viewer)
        notice = {"created": _("Payment link created."), "sent": _("Payment link sent."),
                  "cancelled": _("Payment link cancelled.")}.get(req.get_param("done") or "")
        self.show(req, resp, viewer, notice=notice)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create the link (sent at once on the chosen channels)."""
        viewer, form = self.posted(req, CREATE)
        chosen = [v.partition(":") for v in form.get("item", []) if v]
        try:
            request = links.LinkRequest(
                account_number=first(form, "account_number"),
                items=[{"kind": k, "reference": r} for k, _sep, r in chosen] or None,
                amount_policy=first(form, "amount_policy") or "full",
                minimum=self.amount(viewer, form, "minimum", N_("Minimum")),
                multi_use=bool(first(form, "multi_use")),
                channels=tuple(c for c in form.get("channel", []) if c),
                description=at_most(form, "description", DESCRIPTION_MAX))
            with self.ctx.transaction() as session:
                links.create_link(self.ctx, session, viewer.principal.actor(),
                                  viewer.principal.tenant_id, request)
        except LoketError as exc:
            self.show(req, resp, viewer, form={k: v for k, v in form.items() if k != "csrf"},
                      problem=self.explain(viewer, exc, INPUTS, ALIASES),
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/payment-links?done=created")


class PaymentLinkAction(Page):
    """``POST /console/payment-links/{link_id}/send`` and ``/cancel``."""

    def __init__(self, ctx: object, action: str):
        super().__init__(ctx)
        self.action = action

    def on_post(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        """Send the link again (on its channels) or cancel it."""
        viewer, _form = self.posted(req, SEND if self.action == "send" else CANCEL)
        try:
            with self.ctx.transaction() as session:
                link = links.get_link(session, viewer.principal.tenant_id, link_id)
                if self.action == "send":
                    links.send_link(self.ctx, session, viewer.principal.actor(), link)
                else:
                    links.cancel_link(self.ctx, session, viewer.principal.actor(), link)
        except LoketError as exc:
            PaymentLinks(self.ctx).show(req, resp, viewer, problem=self.explain(viewer, exc),
                                        status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/payment-links?done=" + ("sent" if self.action == "send"
                                                           else "cancelled"))
