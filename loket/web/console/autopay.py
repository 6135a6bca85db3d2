"""Auto-pay at the console: staff look up an account's mandates and election; a consumer
sees their own, saves a payment method at a gateway that offers mandates, chooses what is
charged automatically, and revokes a mandate."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core.autopay import elections, mandates
from loket.core.gateway_configs import configs
from loket.errors import LoketError, NotFound
from loket.web import amounts
from loket.web.console.base import NotAllowed, Page, Viewer, first, see_other, unknown_action
from loket.web.console.nav import N_

STAFF_VIEW = ("GET", "/v1/consumers/{account}/mandates")
MINE = ("GET", "/v1/me/mandates")
SET_UP = ("POST", "/v1/me/mandates")
REVOKE = ("DELETE", "/v1/me/mandates/{mandate_id}")
ELECT = ("PUT", "/v1/me/autopay")


def _standing(session: Any, tenant_id: int, account: str) -> dict[str, Any]:
    """The account's mandates (masked) and its election (``None`` when none)."""
    rows = [mandates.public(m, r) for m, r in mandates.list_for(session, tenant_id, account)]
    try:
        election: dict[str, Any] | None = elections.view(
            session, elections.current(session, tenant_id, account))
    except NotFound:
        election = None
    return {"mandates": rows, "election": election}


class AccountAutopay(Page):
    """``GET /console/autopay?account=``: one account's mandates and election (staff)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Look the account up."""
        viewer = self.viewer(req, STAFF_VIEW)
        account = (req.get_param("account") or "").strip()
        standing, error = None, None
        if account:
            try:
                with self.ctx.transaction() as session:
                    standing = _standing(session, viewer.principal.tenant_id, account)
            except LoketError as exc:
                error = self.explain(viewer, exc).banner
        self.render(resp, "console/autopay.html", viewer, account=account, standing=standing,
                    error=error, mine=False, active="/console/autopay")


class MyAutopay(Page):
    """``GET /console/my-autopay`` and ``POST`` (``action``: setup, elect, revoke)."""

    def show(self, resp: falcon.Response, viewer: Viewer, *, notice: str | None = None,
             error: str | None = None, status: str = falcon.HTTP_200) -> None:
        """My mandates, my election and the forms."""
        account = viewer.principal.account_number or ""
        with self.ctx.transaction() as session:
            standing = _standing(session, viewer.principal.tenant_id, account)
            gateways = [r.kind for r in configs.usable_gateways(self.ctx, session,
                                                                 viewer.principal.tenant_id)
                        if self.ctx.plugins.supports_mandates(r.kind)]
        limit = (standing["election"] or {}).get("max_amount")
        self.render(resp, "console/autopay.html", viewer, status=status, account=account,
                    standing=standing, gateways=gateways, kinds=elections.ITEM_KINDS,
                    notice=notice, error=error, mine=True, active="/console/my-autopay",
                    max_amount=amounts.written(limit["amount"], limit["currency"],
                                               viewer.locale) if limit else "")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """My auto-pay."""
        viewer = self.viewer(req, MINE)
        _ = self.gettext(viewer)
        notice = {"elected": _("Auto-pay saved."), "revoked": _("Mandate revoked.")}.get(
            req.get_param("done") or "")
        self.show(resp, viewer, notice=notice)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Set up a mandate (off to the gateway), elect auto-pay, or revoke a mandate."""
        viewer, form = self.posted(req, MINE)
        action = first(form, "action")
        account = viewer.principal.account_number or ""
        operation = {"setup": SET_UP, "elect": ELECT, "revoke": REVOKE}.get(action)
        if operation is None:
            raise unknown_action(action)
        if not viewer.can(*operation):
            raise NotAllowed(viewer, operation)
        actor, tenant_id = viewer.principal.actor(), viewer.principal.tenant_id
        try:
            with self.ctx.transaction() as session:
                if action == "setup":
                    mandate = mandates.start_setup(self.ctx, session, actor, tenant_id,
                                                   account, first(form, "gateway"))
                    see_other(resp, str(mandate.redirect_url))
                    return
                if action == "elect":
                    elections.elect(self.ctx, session, actor, tenant_id, account,
                                    first(form, "mandate"),
                                    [k for k in form.get("item_kinds", []) if k],
                                    self.amount(viewer, form, "max_amount",
                                                N_("At most per charge")),
                                    bool(first(form, "active")))
                else:
                    mandates.revoke(self.ctx, session, actor, tenant_id, first(form, "mandate"),
                                    account)
        except LoketError as exc:
            self.show(resp, viewer, error=self.explain(viewer, exc).banner,
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/my-autopay?done=" + ("elected" if action == "elect"
                                                        else "revoked"))
