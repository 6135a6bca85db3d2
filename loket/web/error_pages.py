"""What a page route answers when it cannot do what was asked: a page, never the API's problem
document and never a trace. The console's error page is in the tenant's language with the
console's navigation when someone is signed in, and a link back to the form's page when a
form was refused; a guest page's is the guest's own (:func:`loket.web.guest.error_handler`).
The API's requests keep their problem documents."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import falcon

from loket.errors import LoketError
from loket.server.errors import send_http_problem, send_problem, send_unexpected
from loket.web import guest, rendering
from loket.web.console import problems
from loket.web.console.base import (
    CsrfFailed,
    NotAllowed,
    Page,
    SignInRequired,
    Viewer,
    sign_in_location,
)
from loket.web.console.labels import ROLE_LABELS
from loket.web.console.nav import visible_screens
from loket.web.console.signin import safe_next

log = logging.getLogger(__name__)
# What a page says for an error Falcon itself raised, by its status (English, said again
# through :data:`problems.SAID`).
FALCON_DETAILS = {400: "the form could not be read", 404: "no such page", 405: "no such page",
                  413: "the form is too large"}
FALCON_CODES = {400: "bad-request", 403: "forbidden", 404: "not-found", 405: "not-found",
                413: "too-large"}


class PageRefused(LoketError):
    """An error Falcon raised on a page (a method the page does not take, a form it cannot
    read), told as a loket error so that it is answered like one, with Falcon's status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = FALCON_CODES.get(status, "internal")


def is_page(req: falcon.Request) -> bool:
    """Whether the request is for the console or the guest pages (whose errors are
    pages)."""
    return req.path == "/console" or req.path.startswith(("/console/", "/guest/"))


def _console(req: falcon.Request) -> bool:
    return req.path == "/console" or req.path.startswith("/console/")


class FormPages:
    """Where the form of a refused POST was: the page a person goes back to."""

    def __init__(self, routes: Iterable[tuple[str, Any]]):
        """Take the page routes (``(template, resource)``); those with ``on_get`` are pages
        a person can open."""
        self.patterns = [re.compile("".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)) + "$")
            for path, resource in routes
            if path.startswith("/console") and hasattr(resource, "on_get")]

    def opens(self, path: str) -> bool:
        """Whether ``path`` is a console page a person can open."""
        return any(p.match(path) for p in self.patterns)

    def of(self, req: falcon.Request) -> str | None:
        """The page that held the form ``req`` sent (``None`` for a request that is no
        form): the console page the browser names as its referrer, else the nearest page
        above the form's address (``/console/payments/P-1/verify`` was sent from
        ``/console/payments/P-1``)."""
        if req.method != "POST":
            return None
        referrer = urlsplit(req.referer or "")
        if referrer.netloc == req.netloc and self.opens(referrer.path):
            found = safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
            if found:
                return found
        path = req.path
        while path.startswith("/console"):
            if self.opens(path):
                return path
            path = path.rpartition("/")[0]
        return None


def _page(resp: falcon.Response, status: str, locale: str, title: str, detail: str,
          viewer: Viewer | None = None, back: str | None = None) -> None:
    """The error page; with the signed-in ``viewer``'s navigation and time zone, and a link
    ``back`` to the page of a refused form."""
    resp.status = status
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Cache-Control", "no-store")
    context: dict[str, Any] = {}
    if viewer is not None:
        context = {"viewer": viewer, "tenant_name": viewer.tenant_name,
                   "csrf": viewer.session.csrf, "nav": visible_screens(viewer.principal.role),
                   "role_label": ROLE_LABELS.get(viewer.principal.role,
                                                 viewer.principal.role)}
    resp.text = rendering.render("console/error.html", locale,
                                 viewer.timezone if viewer else "UTC", title=title,
                                 detail=detail, back=back, **context)


def _signed_in(ctx: Any, req: falcon.Request) -> Viewer | None:
    """The person signed in to the console who sent ``req``, if any (a guest page's or a
    signed-out person's request has none)."""
    if not _console(req):
        return None
    try:
        return Page(ctx).viewer(req)
    except Exception:  # signed out, or the very failure being answered: a page without nav
        return None


def _sign_in(req: falcon.Request, resp: falcon.Response, exc: SignInRequired, params: dict) -> None:
    resp.status = falcon.HTTP_303
    resp.location = sign_in_location(req) if req.method == "GET" else "/console/sign-in"


class ConsoleRefusals:
    """The pages of the console's own refusals: a role that may not (403) and a form that
    did not come from this session (403, "form expired"), both with the navigation and a link
    back to the form's page."""

    def __init__(self, forms: FormPages):
        self.forms = forms

    def not_allowed(self, req: falcon.Request, resp: falcon.Response, exc: NotAllowed,
                    params: dict) -> None:
        """Answer :class:`NotAllowed` (Falcon's error handler signature)."""
        viewer = exc.viewer
        _ = rendering.translations(viewer.locale).gettext
        _page(resp, falcon.HTTP_403, viewer.locale, _("Not allowed"),
              _("Your role may not open this page."), viewer, self.forms.of(req))

    def csrf(self, req: falcon.Request, resp: falcon.Response, exc: CsrfFailed,
             params: dict) -> None:
        """Answer :class:`CsrfFailed` (Falcon's error handler signature)."""
        viewer = exc.viewer
        _ = rendering.translations(viewer.locale).gettext
        _page(resp, falcon.HTTP_403, viewer.locale, _("Form expired"),
              _("This form was sent from a page of another or an earlier session, so "
                "nothing was changed. Open the form again and send it once more."),
              viewer, self.forms.of(req))


class PageErrors:
    """Turns a loket error on a page into the error page: in the tenant's language with
    the console's navigation when someone is signed in (else the browser's language); the
    API's requests get their problem document."""

    def __init__(self, ctx: Any, forms: FormPages):
        self.ctx = ctx
        self.forms = forms

    def __call__(self, req: falcon.Request, resp: falcon.Response, exc: LoketError,
                 params: dict) -> None:
        """Answer ``exc`` (Falcon's error handler signature)."""
        if not is_page(req):
            send_problem(req, resp, exc, params)
            return
        viewer = _signed_in(self.ctx, req)
        locale = viewer.locale if viewer else rendering.negotiate(
            req.get_header("Accept-Language"))
        detail = problems.said(exc.detail, locale, viewer.currency if viewer else None)
        _page(resp, falcon.code_to_http_status(exc.status), locale,
              problems.title_of(exc, locale), detail, viewer,
              self.forms.of(req) if viewer else None)


class FalconErrors:
    """Errors Falcon raises and errors nobody expected, on a page: answered as the page's
    loket error would be (``pages``, the pages' handler of :class:`LoketError`); the API's
    requests keep their problem documents."""

    def __init__(self, pages: Any):
        self.pages = pages

    def http(self, req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError,
             params: dict) -> None:
        """Answer Falcon's ``exc`` (a method a page does not take, a form it cannot read)."""
        if not is_page(req):
            send_http_problem(req, resp, exc, params)
            return
        status = falcon.http_status_to_code(exc.status)
        for header, value in dict(exc.headers or {}).items():
            resp.set_header(header, value)
        self.pages(req, resp, PageRefused(status, FALCON_DETAILS.get(
            status, exc.description or exc.title or "")), params)

    def unexpected(self, req: falcon.Request, resp: falcon.Response, exc: Exception,
                   params: dict) -> None:
        """Log ``exc`` and answer 500 with the request's id to quote, as a page."""
        if not is_page(req):
            send_unexpected(req, resp, exc, params)
            return
        request_id = getattr(req.context, "request_id", "-")
        log.exception("unexpected error in request %s", request_id)
        self.pages(req, resp, PageRefused(500, "an unexpected error occurred; it has been "
                                               f"logged with request id {request_id}"), params)


def add_handlers(app: falcon.App, ctx: Any, routes: Iterable[tuple[str, Any]]) -> None:
    """Install the pages' error handlers on ``app`` (after the API's, which they replace for
    the pages only); ``routes`` are the page routes."""
    forms = FormPages(routes)
    refusals = ConsoleRefusals(forms)
    pages = guest.error_handler(ctx, PageErrors(ctx, forms))
    falcon_errors = FalconErrors(pages)
    app.add_error_handler(Exception, falcon_errors.unexpected)
    app.add_error_handler(falcon.HTTPError, falcon_errors.http)
    app.add_error_handler(LoketError, pages)
    app.add_error_handler(SignInRequired, _sign_in)
    app.add_error_handler(NotAllowed, refusals.not_allowed)
    app.add_error_handler(CsrfFailed, refusals.csrf)
