"""Signing in (an API key or a consumer token), signing out, and the console's front door."""

from __future__ import annotations

import secrets as pysecrets

import falcon

from loket.errors import LoketError
from loket.server.auth import authenticate
from loket.web import rendering
from loket.web.console.base import Page, SignInRequired, first, read_form, see_other
from loket.web.console.nav import home
from loket.web.session import (
    COOKIE,
    SESSION_SECONDS,
    SIGNIN_COOKIE,
    new_session,
    same_token,
    seal,
    secure_cookies,
)


def safe_next(value: str | None) -> str | None:
    """A console path to return to after signing in; anything else (another site) is
    dropped, so the sign-in page is no open redirect."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return None


class SignIn(Page):
    """``GET /console/sign-in`` shows the form; ``POST`` checks the credential like the API
    does and starts the session."""

    def _form(self, req: falcon.Request, resp: falcon.Response, error: str | None = None,
              status: str = falcon.HTTP_200) -> None:
        token = pysecrets.token_urlsafe(24)
        resp.set_cookie(SIGNIN_COOKIE, token, max_age=600, path="/console", http_only=True,
                        secure=secure_cookies(self.ctx), same_site="Strict")
        locale = rendering.negotiate(req.get_header("Accept-Language"))
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Cache-Control", "no-store")
        resp.text = rendering.render("console/sign_in.html", locale, csrf=token, error=error,
                                     next=safe_next(req.get_param("next")) or "")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The sign-in form."""
        self._form(req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate the pasted credential; on success set the session cookie."""
        form = read_form(req)
        _ = rendering.translations(rendering.negotiate(req.get_header("Accept-Language"))).gettext
        if not same_token(req.cookies.get(SIGNIN_COOKIE) or "", first(form, "csrf")):
            self._form(req, resp, _("The form expired. Please sign in again."),
                       falcon.HTTP_403)
            return
        credential = first(form, "credential")
        try:
            principal = authenticate(self.ctx, f"Bearer {credential}", req.context.request_id)
        except LoketError:
            self._form(req, resp, _("That API key or token is not valid."), falcon.HTTP_401)
            return
        session = new_session(credential, int(self.ctx.now().timestamp()))
        resp.set_cookie(COOKIE, seal(self.ctx, session), max_age=SESSION_SECONDS,
                        path="/console", http_only=True, secure=secure_cookies(self.ctx),
                        same_site="Strict")
        resp.unset_cookie(SIGNIN_COOKIE, path="/console")
        see_other(resp, safe_next(first(form, "next")) or home(principal.role))


class SignOut(Page):
    """``POST /console/sign-out``: forget the session (CSRF checked)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Clear the cookie and go back to the sign-in page."""
        try:
            self.posted(req, None)
        except SignInRequired:
            pass
        resp.unset_cookie(COOKIE, path="/console")
        see_other(resp, "/console/sign-in")


class Front(Page):
    """``GET /console``: the role's first screen, or the sign-in page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Redirect to where this person starts."""
        see_other(resp, home(self.viewer(req).principal.role))
