"""The guest payer's pages (no sign-in): identify the account with the facts the tenant asks
for, see what is owed, pay one or several items (possibly on the holder's behalf), then the
result and the receipt of what was paid — nothing else. In the payer's language
(``Accept-Language``, else the tenant's locale), phone-sized first.

The payer token from identification is kept in an encrypted, HttpOnly, SameSite=Strict
cookie scoped to ``/guest/{tenant}`` together with a CSRF token; it expires with the token.
The pages call the same core functions as ``/v1/public/{tenant}/…``.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import Any

import attrs
import falcon

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.documents import pdf
from loket.core.gateway_configs import configs
from loket.core.guests import identification
from loket.core.guests.rate_limit import TooManyAttempts
from loket.core.models import Payment
from loket.core.payments import checkout
from loket.core.payments.payers import Payer
from loket.core.settings import load_settings
from loket.errors import LoketError, NotFound
from loket.server import serialize
from loket.server.auth import Principal
from loket.server.reports_api import receipt_available, send_pdf
from loket.web import amounts, payer, rendering, tenant_pages
from loket.web.console.base import first, read_form, see_other
from loket.web.console.labels import status_label, status_tone
from loket.web.refusals import refusal
from loket.web.session import same_token, secure_cookies

COOKIE = "loket_guest"
FORM_COOKIE = "loket_guest_form"


@attrs.frozen
class Guest:
    """An identified payer: the token's session and the page's CSRF token."""

    session: identification.GuestSession
    token: str = attrs.field(repr=False)
    csrf: str = attrs.field(repr=False)


class GuestPage:
    """Base of the guest pages: takes the container in its constructor."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def tenant(self, slug: str) -> tuple[int, str, dict]:
        """The tenant's id, name and settings; a 404 page when it takes no guest payments."""
        with self.ctx.transaction() as session:
            row = tenants.tenant_by_slug(session, slug)
            settings = load_settings(session, row.id).document
        if not settings.get("guest", {}).get("enabled"):
            raise NotFound(f"tenant {slug!r} does not take guest payments")
        return row.id, row.name, settings

    def locale(self, req: falcon.Request, settings: dict) -> str:
        """The payer's language, else the tenant's."""
        return rendering.negotiate(req.get_header("Accept-Language"), settings["locale"])

    def page(self, req: falcon.Request, resp: falcon.Response, template: str,
             settings: dict, status: str = falcon.HTTP_200, **context: Any) -> None:
        """Render a guest page."""
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Cache-Control", "no-store")
        resp.text = rendering.render(template, self.locale(req, settings), settings["timezone"],
                                     status_label=status_label, status_tone=status_tone,
                                     **context)

    def guest(self, req: falcon.Request, slug: str, tenant_id: int) -> Guest | None:
        """The identified payer of this tenant, or ``None`` (no cookie, expired, forged)."""
        value = req.cookies.get(COOKIE)
        if not value:
            return None
        try:
            data = self.ctx.secrets.decrypt(value)
            found = identification.verify_token(self.ctx, f"Bearer {data['t']}", tenant_id)
        except (LoketError, KeyError, TypeError):
            return None
        return Guest(session=found, token=data["t"], csrf=data["x"])

    def principal(self, req: falcon.Request, guest: Guest) -> Principal:
        """The engine's caller for this guest (audited as ``guest:<account>``)."""
        found = guest.session
        principal = Principal(tenant_id=found.tenant_id, role="guest",
                              name=f"guest:{found.account_number}"[:100],
                              key=f"g{found.session_id}", account_number=found.account_number,
                              request_id=req.context.request_id)
        req.context.principal = principal
        return principal


class Identify(GuestPage):
    """``GET /guest/{tenant}`` (the form) and ``POST`` (check the facts, keep the token)."""

    def form(self, req: falcon.Request, resp: falcon.Response, slug: str, *,
             error: str | None = None, errors: dict | None = None,
             status: str = falcon.HTTP_200, given: dict | None = None) -> None:
        """The identification form with a fresh CSRF cookie."""
        _tenant_id, name, settings = self.tenant(slug)
        token = pysecrets.token_urlsafe(24)
        resp.set_cookie(FORM_COOKIE, token, max_age=1800, path=f"/guest/{slug}",
                        http_only=True, secure=secure_cookies(self.ctx), same_site="Strict")
        self.page(req, resp, "pay/guest_identify.html", settings, status=status,
                  tenant_name=name, slug=slug, facts=settings["guest"]["verify"], csrf=token,
                  error=error, errors=errors or {}, given=given or {},
                  amount_example=amounts.example(self.locale(req, settings),
                                                 settings["currency"]))

    def on_get(self, req: falcon.Request, resp: falcon.Response, tenant: str) -> None:
        """Ask for the account number and the facts."""
        self.form(req, resp, tenant)

    def plain_facts(self, facts: dict[str, str], req: falcon.Request,
                    settings: dict) -> dict[str, str]:
        """``facts`` with the last bill's amount read as the page writes amounts
        (``152,25`` in Indonesian) into the plain decimal the core compares.

        :raises amounts.AmountNotUnderstood: the amount cannot be read as one amount.
        """
        if "last_bill_amount" not in facts:
            return facts
        return {**facts, "last_bill_amount": amounts.plain_amount(
            facts["last_bill_amount"], self.locale(req, settings), settings["currency"],
            field="last_bill_amount", label=amounts.N_("Amount of the last bill"))}

    def on_post(self, req: falcon.Request, resp: falcon.Response, tenant: str) -> None:
        """Identify; the same words whatever was wrong; 429 past the attempts limit."""
        _tenant_id, _name, settings = self.tenant(tenant)
        _ = rendering.translations(self.locale(req, settings)).gettext
        form = read_form(req)
        given = {k: first(form, k) for k in ("account_number", *settings["guest"]["verify"])}
        if not same_token(req.cookies.get(FORM_COOKIE) or "", first(form, "csrf")):
            self.form(req, resp, tenant, error=_("The form expired. Please try again."),
                      status=falcon.HTTP_403, given=given)
            return
        facts = {k: v for k, v in given.items() if k != "account_number"}
        try:  # an amount the page cannot read is no attempt: it counts toward no limit
            facts = self.plain_facts(facts, req, settings)
        except amounts.AmountNotUnderstood as exc:
            self.form(req, resp, tenant, status=falcon.HTTP_422, given=given,
                      errors={"last_bill_amount": exc.said()})
            return
        try:
            found = identification.identify(self.ctx, tenant, given["account_number"], facts,
                                            req.remote_addr or "-")
        except TooManyAttempts as exc:
            resp.set_header("Retry-After", str(exc.retry_after))
            self.form(req, resp, tenant, status=falcon.HTTP_429, given=given,
                      error=_("Too many attempts. Please wait a few minutes and try again."))
            return
        except LoketError as exc:
            missing = {e["field"].removeprefix("facts."): _("Required.")
                       for e in exc.errors if str(e.get("field", "")).startswith("facts.")}
            self.form(req, resp, tenant, status=falcon.code_to_http_status(exc.status),
                      given=given, errors=missing, error=_(
                          "We could not identify an account with these details. Check them "
                          "and try again.") if not missing else None)
            return
        sealed = str(self.ctx.secrets.encrypt({"t": found.token,
                                               "x": pysecrets.token_urlsafe(24)}))
        seconds = int((found.expires_at - self.ctx.now()).total_seconds())
        resp.set_cookie(COOKIE, sealed, max_age=max(seconds, 60), path=f"/guest/{tenant}",
                        http_only=True, secure=secure_cookies(self.ctx), same_site="Strict")
        resp.unset_cookie(FORM_COOKIE, path=f"/guest/{tenant}")
        see_other(resp, f"/guest/{tenant}/bills")


class Bills(GuestPage):
    """``GET /guest/{tenant}/bills`` (what is owed) and ``POST`` (pay the chosen items)."""

    def show(self, req: falcon.Request, resp: falcon.Response, slug: str, guest: Guest, *,
             form: dict | None = None, error: str | None = None,
             status: str = falcon.HTTP_200) -> None:
        """The account's open items, who pays, and the gateways."""
        tenant_id, name, settings = self.tenant(slug)
        with self.ctx.transaction() as session:
            holder = queries.consumer(session, tenant_id, guest.session.account_number)
            rows = queries.items(session, holder)
            kinds = sorted({r.kind for r in configs.usable_gateways(self.ctx, session,
                                                                     tenant_id)})
        gateways = [(k, self.ctx.plugins.gateways[k].display_name) for k in kinds
                    if k in self.ctx.plugins.gateways]
        self.page(req, resp, "pay/guest_bills.html", settings, status=status, tenant_name=name,
                  slug=slug, holder_name=holder.name, account=holder.account_number, rows=rows,
                  total=sum(r.amount - r.paid for r in rows), currency=settings["currency"],
                  gateways=gateways, csrf=guest.csrf, form=form or {}, error=error,
                  form_key=pysecrets.token_urlsafe(16))

    def on_get(self, req: falcon.Request, resp: falcon.Response, tenant: str) -> None:
        """What the account owes (back to the form when not identified)."""
        tenant_id, _name, _settings = self.tenant(tenant)
        guest = self.guest(req, tenant, tenant_id)
        if guest is None:
            see_other(resp, f"/guest/{tenant}")
            return
        self.show(req, resp, tenant, guest)

    def on_post(self, req: falcon.Request, resp: falcon.Response, tenant: str) -> None:
        """Start the checkout of the chosen items, the payer recorded apart from the holder;
        off to the gateway."""
        tenant_id, _name, settings = self.tenant(tenant)
        guest = self.guest(req, tenant, tenant_id)
        if guest is None:
            see_other(resp, f"/guest/{tenant}")
            return
        form = read_form(req)
        _ = rendering.translations(self.locale(req, settings)).gettext
        if not same_token(guest.csrf, first(form, "csrf")):  # an old page: same form again
            self.show(req, resp, tenant, guest, form=form, status=falcon.HTTP_403,
                      error=_("The form expired. Please try again."))
            return
        items = [{"kind": k, "reference": r} for k, _sep, r in
                 (v.partition(":") for v in form.get("item", []) if v)]
        if not items:
            self.show(req, resp, tenant, guest, form=form, status=falcon.HTTP_422,
                      error=_("Choose at least one bill to pay."))
            return
        try:
            payer = Payer.from_json({"name": first(form, "payer_name"),
                                     "email": first(form, "payer_email"),
                                     "phone": first(form, "payer_phone")})
            actor = self.principal(req, guest).actor()
            with self.ctx.transaction() as session:
                payment = checkout.start_checkout(
                    self.ctx, session, actor, tenant_id, guest.session.account_number,
                    first(form, "gateway"), items, idempotency_key=first(form, "form_key")
                    or None, payer=payer, guest_session=guest.session.session_id)
                failed, redirect = payment.status == "failed", payment.redirect_url
                message = payment.failure_message
        except LoketError as exc:
            self.show(req, resp, tenant, guest, form=form,
                      error=refusal(exc, self.locale(req, settings), settings["currency"]),
                      status=falcon.code_to_http_status(exc.status))
            return
        if failed or not redirect:
            self.show(req, resp, tenant, guest, form=form, status=falcon.HTTP_502,
                      error=_("The gateway could not start the payment: %(reason)s") % {
                          "reason": message or "-"})
            return
        see_other(resp, redirect)


class Result(GuestPage):
    """``GET /guest/{tenant}/payments/{number}``: the result and receipt of a payment this
    guest made (404 for any other)."""

    def mine(self, req: falcon.Request, tenant: str, number: str
             ) -> tuple[int, str, dict, Guest | None]:
        """The tenant and the guest, when the guest may see payment ``number``."""
        tenant_id, name, settings = self.tenant(tenant)
        guest = self.guest(req, tenant, tenant_id)
        return tenant_id, name, settings, guest

    def payment(self, session: Any, tenant_id: int, guest: Guest, number: str) -> Payment:
        """The payment, only when this guest's token made it."""
        payment = queries.payment(session, tenant_id, number)
        if payment.guest_session != guest.session.session_id:
            raise NotFound(f"no payment {number!r}")
        return payment

    def on_get(self, req: falcon.Request, resp: falcon.Response, tenant: str,
               number: str) -> None:
        """Status, what it paid, the payer and the receipt once completed."""
        tenant_id, name, settings, guest = self.mine(req, tenant, number)
        if guest is None:
            see_other(resp, f"/guest/{tenant}")
            return
        with self.ctx.transaction() as session:
            payment = self.payment(session, tenant_id, guest, number)
            lines = [{"description": r.description or r.reference, "reference": r.reference,
                      "period": r.period, "amount": a.amount}
                     for a, r in queries.allocations(session, payment) if a.state != "void"]
            ready = payment.receipt_number is not None and payment.status not in (
                "initiated", "failed", "cancelled")
            receipt = serialize.receipt(session, payment) if ready else None
            self.page(req, resp, "pay/guest_result.html", settings, tenant_name=name,
                      slug=tenant, payment=payment, lines=lines, receipt=receipt,
                      reason=payer.FAILURE_REASONS.get(payment.failure_category or ""),
                      **payer.receipt_note(session, tenant_id, payment, True))


class ResultPdf(Result):
    """``GET /guest/{tenant}/payments/{number}/receipt.pdf``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, tenant: str,
               number: str) -> None:
        """The receipt PDF of a completed payment this guest made."""
        tenant_id, _name, _settings, guest = self.mine(req, tenant, number)
        if guest is None:
            see_other(resp, f"/guest/{tenant}")
            return
        with self.ctx.transaction() as session:
            payment = self.payment(session, tenant_id, guest, number)
            receipt_available(payment)
            send_pdf(resp, pdf.receipt_pdf(session, payment, for_guest=True),
                     f"receipt-{payment.receipt_number}.pdf")


class Finish(GuestPage):
    """``POST /guest/{tenant}/finish``: forget the payer token on this browser."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, tenant: str) -> None:
        """Clear the cookie and go back to the start."""
        resp.unset_cookie(COOKIE, path=f"/guest/{tenant}")
        see_other(resp, f"/guest/{tenant}")


def guest_routes(ctx: Any) -> list[tuple[str, Any]]:
    """The guest pages with their resources."""
    return [("/guest/{tenant}", Identify(ctx)), ("/guest/{tenant}/bills", Bills(ctx)),
            ("/guest/{tenant}/payments/{number}", Result(ctx)),
            ("/guest/{tenant}/payments/{number}/receipt.pdf", ResultPdf(ctx)),
            ("/guest/{tenant}/finish", Finish(ctx))]


def _error_words(exc: LoketError, locale: str, can_start: bool,
                 currency: str | None) -> dict[str, str | None]:
    """The title, sentence and hint of a guest's error page in ``locale`` (amounts in
    ``currency``, the tenant's)."""
    _ = rendering.translations(locale).gettext
    if exc.status == 404:
        return {"title": _("Not found"), "detail": _("There is nothing to show at this address."),
                "hint": _("For your safety a payment can be seen only during the visit it was "
                          "made in. If you left your contact details when paying, a message "
                          "with a link to download the receipt reaches you once the payment "
                          "is settled.") if can_start else None}
    if exc.status == 409:
        return {"title": _("Not available yet"), "detail": _(
            "The receipt is issued when the payment is settled. If you left your contact "
            "details, a message with a link to download it reaches you then."), "hint": None}
    return {"title": _("Something went wrong"), "detail": refusal(exc, locale, currency),
            "hint": None}


def error_handler(ctx: Any, fallback: Any) -> Any:
    """The pages' handler of :class:`loket.errors.LoketError`: on a guest page, a page of
    the guest's own (their language, the tenant's name, "Start again" where the tenant
    takes guest payments; never the console's); anywhere else ``fallback``."""

    def handle(req: falcon.Request, resp: falcon.Response, exc: LoketError,
               params: dict) -> None:
        if not req.path.startswith("/guest/"):
            fallback(req, resp, exc, params)
            return
        slug = req.path.split("/")[2]
        look = tenant_pages.tenant_look(ctx, req, slug)
        settings = look.settings
        can_start = bool(settings and settings.document.get("guest", {}).get("enabled"))
        tenant_pages.refuse(resp, exc.status, "pay/guest_error.html", look,
                            start_url=f"/guest/{slug}" if can_start else None,
                            **_error_words(exc, look.locale, can_start,
                                           settings.currency if settings else None))

    return handle
