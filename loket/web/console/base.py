"""What every console page shares: who is signed in, what their role may do (the API's role
matrix, :mod:`loket.server.roles`, is the one source), forms, CSRF and rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import attrs
import falcon
from falcon.uri import parse_query_string

from loket.core import tenants
from loket.core.settings import load_settings
from loket.core.text import printable, storable
from loket.errors import BadRequest, LoketError, TooLarge, ValidationFailed
from loket.server import roles
from loket.server.auth import Principal, authenticate
from loket.server.validation import UNSTORABLE
from loket.web import amounts, rendering
from loket.web.console import problems
from loket.web.console.labels import ROLE_LABELS, status_label, status_tone, value_label
from loket.web.console.nav import visible_screens
from loket.web.session import COOKIE, ConsoleSession, same_token, unseal

Operation = tuple[str, str]
MAX_FORM_BYTES = 256 * 1024
# A whole number a form or a path may give: 1 to 9 ASCII digits, so it fits the database's
# integer (``str.isdigit`` also takes ``²``, which ``int`` refuses).
_WHOLE = re.compile(r"[0-9]{1,9}")


class SignInRequired(Exception):
    """No valid session: the person is sent to the sign-in page."""


class NotAllowed(Exception):
    """The signed-in role may not do this (the matrix says no): a 403 page."""

    def __init__(self, viewer: Viewer, operation: Operation):
        super().__init__(f"{viewer.principal.role} may not {operation[0]} {operation[1]}")
        self.viewer = viewer


class CsrfFailed(Exception):
    """A form came back without this session's CSRF token: refused with 403, on a page in the
    ``viewer``'s language with the console's navigation and a link back to the form's page."""

    def __init__(self, viewer: Viewer):
        super().__init__("the form did not carry this session's CSRF token")
        self.viewer = viewer


@attrs.frozen
class Viewer:
    """The signed-in person: their principal, session, and the tenant's name and locale."""

    principal: Principal
    session: ConsoleSession = attrs.field(repr=False)
    tenant_name: str
    locale: str
    currency: str
    timezone: str = "UTC"

    def can(self, method: str, template: str) -> bool:
        """Whether this role may call the API operation ``method template``."""
        return self.principal.role in roles.allowed(method, template)


def read_form(req: falcon.Request) -> dict[str, list[str]]:
    """The posted ``application/x-www-form-urlencoded`` fields, each as a list of values.

    :raises TooLarge: the form is larger than :data:`MAX_FORM_BYTES` (naming ``form``).
    :raises ValidationFailed: naming a field that holds text no database stores (see
        :func:`storable_form`), before the page acts on the form.
    """
    raw = req.bounded_stream.read(MAX_FORM_BYTES + 1)
    if len(raw) > MAX_FORM_BYTES:
        raise TooLarge(f"the form is larger than {MAX_FORM_BYTES} bytes", field="form")
    parsed = parse_query_string(raw.decode("utf-8", "replace"), keep_blank=True, csv=False)
    return storable_form({k: (v if isinstance(v, list) else [v]) for k, v in parsed.items()})


def read_upload(req: falcon.Request, limit: int = MAX_FORM_BYTES * 4
                ) -> tuple[dict[str, list[str]], dict[str, tuple[str, bytes]]]:
    """The fields and files of a ``multipart/form-data`` POST (a form with a file input);
    an url-encoded form is read as :func:`read_form` (no files).

    :param limit: the most bytes the form may hold, files included (a page taking larger
        files passes its own); each part is read up to what is left of it.
    :returns: the fields (each as a list of values) and the files by field name
        (``(filename, content)``).
    :raises TooLarge: the form is larger than ``limit``, naming the part that overflowed
        (``form`` when the declared length already does).
    :raises ValidationFailed: as :func:`read_form`, for a field no database stores.
    """
    if not (req.content_type or "").startswith("multipart/form-data"):
        return read_form(req), {}
    if (req.content_length or 0) > limit:
        raise TooLarge(f"the form is larger than {limit} bytes", field="form")
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    left = limit
    for part in req.get_media():
        data = part.stream.read(left + 1)
        left -= len(data)
        if left < 0:
            raise TooLarge(f"the form is larger than {limit} bytes",
                           field=printable(part.name or "form"))
        if part.filename:
            files[part.name] = (part.secure_filename, data)
        elif part.name:
            fields.setdefault(part.name, []).append(data.decode("utf-8", "replace"))
    return storable_form(fields), files


def storable_form(form: dict[str, list[str]]) -> dict[str, list[str]]:
    """``form`` itself when every field name and value can be stored (no NUL, no lone
    surrogate: :func:`loket.core.text.storable`), as the API's validation requires of a body.

    :raises ValidationFailed: naming the first field that cannot (``form`` for a name).
    """
    for name, values in form.items():
        if not storable(name):
            raise ValidationFailed(f"a field name: {UNSTORABLE}", field="form")
        if not all(storable(v) for v in values):
            raise ValidationFailed(f"{printable(name)}: {UNSTORABLE}", field=name)
    return form


def whole_number(text: str, signed: bool = False) -> int | None:
    """``text`` as a whole number when it is 1 to 9 ASCII digits (after a ``-`` when
    ``signed``), which a database integer holds; else ``None`` (page numbers, ids in paths,
    whole-number form fields)."""
    negative = signed and text.startswith("-")
    digits = text[1:] if negative else text
    if not _WHOLE.fullmatch(digits):
        return None
    return -int(digits) if negative else int(digits)


def at_most(form: dict[str, list[str]], name: str, limit: int) -> str:
    """:func:`first` of field ``name``, for free text a core function stores without a
    length check of its own: refused past ``limit`` characters (the API's ``maxLength``).

    :raises ValidationFailed: naming ``name``.
    """
    value = first(form, name)
    if len(value) > limit:
        raise ValidationFailed(f"{name} must be at most {limit} characters", field=name)
    return value


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    """The first value of field ``name``, stripped."""
    values = form.get(name) or [default]
    return values[0].strip()


def unknown_action(action: str) -> BadRequest:
    """The refusal of a form asking for an ``action`` its page does not offer (an altered or
    outdated form): shown as the console's error page, naming the field ``action``."""
    return BadRequest(f"unknown action {printable(action)[:40]!r}", field="action")


def see_other(resp: falcon.Response, location: str) -> None:
    """Answer 303 See Other: after a form, the browser GETs ``location``."""
    resp.status = falcon.HTTP_303
    resp.location = location


def sign_in_location(req: falcon.Request) -> str:
    """The sign-in page, remembering where the person was going."""
    return "/console/sign-in?next=" + quote(req.relative_uri, safe="")


class Page:
    """Base of the console resources: takes the container in its constructor."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def viewer(self, req: falcon.Request, operation: Operation | None = None) -> Viewer:
        """The signed-in person, allowed to call ``operation``.

        :raises SignInRequired: no session, or its credential no longer authenticates.
        :raises NotAllowed: the role may not call ``operation``.
        """
        now = int(self.ctx.now().timestamp())
        session = unseal(self.ctx, req.cookies.get(COOKIE), now)
        if session is None:
            raise SignInRequired()
        try:
            principal = authenticate(self.ctx, f"Bearer {session.credential}",
                                     req.context.request_id)
        except LoketError:
            raise SignInRequired() from None
        with self.ctx.transaction() as db:
            settings = load_settings(db, principal.tenant_id)
            name = tenants.tenant_by_id(db, principal.tenant_id).name
        viewer = Viewer(principal=principal, session=session, tenant_name=name,
                        locale=settings["locale"], currency=settings.currency,
                        timezone=settings["timezone"])
        req.context.principal = principal  # the access log names the role
        if operation is not None and not viewer.can(*operation):
            raise NotAllowed(viewer, operation)
        return viewer

    def posted(self, req: falcon.Request,
               operation: Operation | None) -> tuple[Viewer, dict]:
        """The viewer and the form of a POST, after the role and CSRF checks."""
        viewer = self.viewer(req, operation)
        form = read_form(req)
        if not same_token(viewer.session.csrf, first(form, "csrf")):
            raise CsrfFailed(viewer)
        return viewer, form

    def posted_with_files(self, req: falcon.Request, operation: Operation | None
                          ) -> tuple[Viewer, dict, dict[str, tuple[str, bytes]]]:
        """The viewer, fields and files of a multipart POST, after the role and CSRF checks."""
        viewer = self.viewer(req, operation)
        form, files = read_upload(req)
        if not same_token(viewer.session.csrf, first(form, "csrf")):
            raise CsrfFailed(viewer)
        return viewer, form, files

    def gettext(self, viewer: Viewer) -> Callable[[str], str]:
        """The translation function of the viewer's locale (for messages built in code)."""
        return rendering.translations(viewer.locale).gettext

    def amount(self, viewer: Viewer, form: dict[str, list[str]], name: str, label: str,
               currency: str | None = None) -> str | None:
        """Field ``name`` of ``form``, an amount typed the way the console writes them
        (``145,50`` in Indonesian), as the plain decimal the core takes (:mod:`amounts`);
        ``None`` when blank.

        :param label: the field's label (a catalog message), named in a refusal.
        :param currency: the amount's currency (the tenant's when not given).
        :raises amounts.AmountNotUnderstood: naming ``name``.
        """
        return amounts.plain_amount(first(form, name), viewer.locale,
                                    currency or viewer.currency, field=name,
                                    label=label) or None

    def explain(self, viewer: Viewer, exc: LoketError, inputs: tuple[str, ...] = (),
                aliases: dict[str, str] | None = None,
                currency: str | None = None) -> problems.Problem:
        """What the page says for ``exc`` in the viewer's language: the messages under the
        form's ``inputs`` and a line at the top (:func:`problems.explain`); amounts in
        ``currency`` (the tenant's when not given)."""
        return problems.explain(exc, viewer.locale, currency or viewer.currency, inputs,
                                aliases)

    def gateway_name(self, kind: str | None) -> str:
        """The display name of gateway ``kind`` (its kind when no plugin has it; '' for
        none)."""
        gateway = self.ctx.plugins.gateways.get(kind) if kind else None
        return gateway.display_name if gateway is not None else (kind or "")

    def render(self, resp: falcon.Response, template: str, viewer: Viewer,
               status: str = falcon.HTTP_200, **context: Any) -> None:
        """Render a console page for ``viewer``: the layout gets the role's navigation, the
        forms an example amount written the tenant's way (``amount_example``, which
        ``context`` may give for another currency)."""
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Cache-Control", "no-store")
        resp.text = rendering.render(
            template, viewer.locale, viewer.timezone, viewer=viewer, tenant_name=viewer.tenant_name,
            csrf=viewer.session.csrf, nav=visible_screens(viewer.principal.role),
            status_label=status_label, status_tone=status_tone, value_label=value_label,
            gateway_name=self.gateway_name,
            role_label=ROLE_LABELS.get(viewer.principal.role, viewer.principal.role),
            **{"amount_example": amounts.example(viewer.locale, viewer.currency), **context})
