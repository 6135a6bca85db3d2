"""The tenant admin's Payment Gateway Configuration: every installed gateway with its on/off
toggle, a credentials form built from the gateway's JSON Schema (secret fields masked), the
Connect test with its payment's status, the daily handshake's result and the webhook URL.
A gateway with several profiles has a card for each configuration, which its forms name
(``kind`` or ``kind:profile``, as the ``{kind}`` of the admin API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs
import falcon

from loket.core.backoffice import queries
from loket.core.gateway_configs import configs
from loket.core.payments import returns
from loket.core.settings import load_settings
from loket.errors import LoketError, NotFound
from loket.web.console.base import Page, Viewer, first, see_other, whole_number

LIST = ("GET", "/v1/gateways")
ACTIVE = ("PUT", "/v1/gateways/{kind}/active")
CREDENTIALS = ("PUT", "/v1/gateways/{kind}/credentials")
CONNECT = ("POST", "/v1/gateways/{kind}/connect")
SETTINGS = ("PUT", "/v1/settings")


@attrs.frozen
class Field:
    """One input of a credentials form, from a property of the gateway's JSON Schema."""

    name: str
    title: str
    help: str
    kind: str  # text, password, checkbox, select, number
    required: bool
    options: tuple[str, ...] = ()
    shown: str = ""  # the stored value, masked when secret


def fields(entry: dict) -> list[Field]:
    """The form fields of a gateway's credential schema, in the schema's order."""
    schema = entry.get("credential_schema") or {}
    required = set(schema.get("required", ()))
    secret = set(entry.get("secret_fields", ()))
    stored = entry.get("credentials") or {}
    out = []
    for name, spec in (schema.get("properties") or {}).items():
        if "enum" in spec:
            kind = "select"
        elif spec.get("type") == "boolean":
            kind = "checkbox"
        elif spec.get("type") == "integer":
            kind = "number"
        else:
            kind = "password" if name in secret else "text"
        value = stored.get(name)
        out.append(Field(name=name, title=spec.get("title") or name.replace("_", " ").title(),
                         help=spec.get("description", ""), kind=kind, required=name in required,
                         options=tuple(str(v) for v in spec.get("enum", ())),
                         shown="" if value is None else str(value)))
    return out


def credentials_from(form: dict[str, list[str]], entry: dict) -> dict[str, Any]:
    """The credentials document typed into the form (empty optional fields left out)."""
    out: dict[str, Any] = {}
    for f in fields(entry):
        raw = first(form, f.name)
        if f.kind == "checkbox":
            out[f.name] = raw == "on"
        elif raw == "":
            continue
        elif f.kind == "number":
            number = whole_number(raw, signed=True)
            out[f.name] = raw if number is None else number
        else:
            out[f.name] = raw
    return out


def _card(name: str) -> str:
    """The URL fragment of configuration ``name``'s card."""
    return "#" + quote(name, safe=":")


class Gateways(Page):
    """``GET /console/gateways``: the configuration page."""

    def show(self, req: falcon.Request, resp: falcon.Response,
             viewer: Viewer, *, notice: str | None = None,
             error: str | None = None, errors: Mapping[str, str] | None = None,
             error_name: str | None = None, connect: dict | None = None,
             typed: dict[str, list[str]] | None = None, status: str = falcon.HTTP_200) -> None:
        """Render every configuration's card (the one named ``error_name`` may carry an
        error, with what was typed in its form kept except secrets, or a connect result)."""
        with self.ctx.transaction() as session:
            entries = configs.list_gateways(self.ctx, session, viewer.principal.tenant_id)
            tests = queries.list_payments(session, viewer.principal.tenant_id,
                                          queries.PaymentFilters(payment_type="test",
                                                                 include_tests=True),
                                          page=1, limit=50)
            latest: dict[int, Any] = {}
            for p in tests.items:
                latest.setdefault(p.gateway_configuration_id, p)
            cards = []
            for entry in entries:
                row_id = None
                if entry.get("webhook_url"):
                    row_id = configs.get_row(session, viewer.principal.tenant_id,
                                             entry["name"]).id
                shown = fields(entry)
                if typed is not None and entry["name"] == error_name:
                    shown = [f if f.kind == "password" else
                             attrs.evolve(f, shown=first(typed, f.name)) for f in shown]
                cards.append({"entry": entry, "fields": shown,
                              "test": latest.get(row_id) if row_id else None})
            payer_return = None
            if viewer.can(*SETTINGS):
                payer_return = {
                    "url": load_settings(session, viewer.principal.tenant_id).document.get(
                        "return_url"),
                    "secret": returns.result_secret(self.ctx, viewer.principal.tenant_id)}
        self.render(resp, "console/gateways.html", viewer, status=status, cards=cards,
                    notice=notice, card_error=error, errors=errors or {},
                    error_name=error_name,
                    connect=connect, payer_return=payer_return, active="/console/gateways",
                    may_toggle=viewer.can(*ACTIVE), may_save=viewer.can(*CREDENTIALS),
                    may_connect=viewer.can(*CONNECT))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The gateways, their state and forms."""
        viewer = self.viewer(req, LIST)
        _ = self.gettext(viewer)
        notice = {"saved": _("Credentials saved and checked with the gateway."),
                  "on": _("Gateway activated."), "off": _("Gateway deactivated.")}.get(
            req.get_param("done") or "")
        self.show(req, resp, viewer, notice=notice,
                  connect=self.started_test(viewer, req.get_param("test")))

    def started_test(self, viewer: Viewer, number: str | None) -> dict | None:
        """The test payment just started (``?test=``), while it waits to be paid."""
        if not number:
            return None
        with self.ctx.transaction() as session:
            try:
                payment = queries.payment(session, viewer.principal.tenant_id, number)
            except LoketError:
                return None
            if not payment.is_test or payment.status != "initiated":
                return None
            entries = configs.list_gateways(self.ctx, session, viewer.principal.tenant_id)
            name = next((e["name"] for e in entries if e.get("webhook_url") and configs.get_row(
                session, viewer.principal.tenant_id, e["name"]).id ==
                payment.gateway_configuration_id), None)
            return {"name": name, "number": payment.number, "status": payment.status,
                    "redirect_url": payment.redirect_url,
                    "note": (payment.gateway_details or {}).get("note")}


class GatewayToggle(Page):
    """``POST /console/gateways/{kind}/active``: switch a configuration (``kind`` or
    ``kind:profile``) on or off."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, kind: str) -> None:
        """Apply the toggle, then show the page again."""
        viewer, form = self.posted(req, ACTIVE)
        active = first(form, "active") == "on"
        try:
            with self.ctx.transaction() as session:
                configs.set_active(self.ctx, session, viewer.principal.actor(),
                                   viewer.principal.tenant_id, kind, active)
        except LoketError as exc:
            Gateways(self.ctx).show(req, resp, viewer, error=self.explain(viewer, exc).banner,
                                    error_name=kind,
                                    status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/gateways?done={'on' if active else 'off'}{_card(kind)}")


class GatewayCredentials(Page):
    """``POST /console/gateways/{kind}/credentials``: validate (format, then live) and store."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, kind: str) -> None:
        """Save, or show the form again with each refused field named."""
        viewer, form = self.posted(req, CREDENTIALS)
        entry = None
        try:
            with self.ctx.transaction() as session:
                entry = next((e for e in configs.list_gateways(self.ctx, session,
                                                               viewer.principal.tenant_id)
                              if e["name"] == kind), None)
                if entry is None:
                    raise NotFound(f"no gateway {kind!r}")
                configs.save_credentials(self.ctx, session, viewer.principal.actor(),
                                         viewer.principal.tenant_id, kind,
                                         credentials_from(form, entry))
        except LoketError as exc:
            problem = self.explain(viewer, exc, tuple(f.name for f in fields(entry))
                                   if entry else ())
            Gateways(self.ctx).show(req, resp, viewer, error=problem.banner,
                                    errors=problem.fields,
                                    error_name=kind, typed=form,
                                    status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/gateways?done=saved{_card(kind)}")


class GatewayConnect(Page):
    """``POST /console/gateways/{kind}/connect``: start the 1-unit test payment."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, kind: str) -> None:
        """Create the test payment, then show the page with the link that pays it (a
        redirect, so reloading the page never starts a second test)."""
        viewer, _form = self.posted(req, CONNECT)
        try:
            with self.ctx.transaction() as session:
                payment = configs.connect(self.ctx, session, viewer.principal.actor(),
                                          viewer.principal.tenant_id, kind)
                number = payment.number
        except LoketError as exc:
            Gateways(self.ctx).show(req, resp, viewer, error=self.explain(viewer, exc).banner,
                                    error_name=kind,
                                    status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/gateways?test={quote(number)}{_card(kind)}")
