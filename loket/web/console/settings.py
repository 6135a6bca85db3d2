"""The tenant admin's settings screen: what ``/v1/settings`` holds (language, time zone,
channels and methods, number formats, limits and thresholds, part payments, auto-pay,
approvals, guest payments, the documents' address and logo), edited through the same core
function as the API (validated, each error shown beside its field, audited)."""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

import falcon
from markupsafe import Markup

from loket.core import tenants
from loket.core.settings import load_settings, update_settings
from loket.core.settings_schema import DEFAULTS, GUEST_FACTS
from loket.errors import LoketError, ValidationFailed
from loket.web import rendering
from loket.web.console import problems
from loket.web.console.base import Page, Viewer, first, see_other, whole_number
from loket.web.console.nav import N_

VIEW = ("GET", "/v1/settings")
EDIT = ("PUT", "/v1/settings")
LOCALES = ("en_US", "id_ID")
MAX_LOGO_BYTES = 256 * 1024
NUMBERED = ("payment", "receipt", "credit_note", "transaction")
# Form fields holding whole numbers, by their settings path.
WHOLE = ("credit_note_expiry_days", "notes_max_length", "payment_timeout_minutes",
         "held_payment_timeout_days", "autopay.days_before_due", "payment_links.expiry_days",
         "guest.token_minutes")
DECIMALS = ("overpayment_threshold", "part_payments.minimum", "part_payments.minimum_percent")
OPTIONAL_DECIMALS = ("approvals.refund_above", "approvals.credit_note_above")
# What the settings' validation says (English), said again on the page: first these, then
# the console's sayings (:data:`problems.SAID`: decimals, amounts, lengths).
SAID: problems.Sayings = tuple(
    (re.compile(pattern), message) for pattern, message in (
        (r"is not of type 'integer'", N_("Enter a whole number.")),
        (r"is less than the minimum of (?P<count>-?\d+)", N_("Enter at least %(count)s.")),
        (r"is greater than the maximum of (?P<count>-?\d+)", N_("Enter at most %(count)s.")),
        (r"should be non-empty$|is too short$", N_("Give at least one.")),
        (r"has non-unique elements$", N_("A value is given twice.")),
        (r"^\[.*\] is too long$", N_("Too many values.")),
        (r"is too long$", N_("This is too long.")),
        (r"^unknown time zone", N_("Unknown time zone: give an IANA name such as "
                                   "Asia/Jakarta.")),
        (r"is unknown to the database", N_("The database does not know this time zone; "
                                           "choose another name for the same zone.")),
        (r"must be in increasing order", N_("Give the days in increasing order.")),
        (r"^default_channel must be one of channels",
         N_("The default channel must be one of the channels.")),
        (r"currency cannot change once", N_("The currency cannot change once there are "
                                            "bills or payments.")),
        (r"is not an ISO 4217 currency code", N_("Enter a currency code such as IDR or USD.")),
        (r"^the logo must be at most", N_("The logo must be at most 256 KiB.")),
        (r"^the logo must be a PNG or JPEG", N_("The logo must be a PNG or JPEG image.")),
    )) + tuple(problems.SAID)
# What a field's text must look like, said when it does not (the schema's pattern).
SHAPES = {"currency": N_("Enter a currency code such as IDR or USD."),
          "return_url": N_("Enter an address that starts with https:// or http://."),
          "locale": N_("Choose one of the offered values."),
          **{f"number_formats.{name}": N_("The format must contain {seq}.") for name in NUMBERED},
          **{path: N_("Enter a number such as 500 or 12.50.")
             for path in (*DECIMALS, *OPTIONAL_DECIMALS)}}


def _number(text: str) -> Any:
    """A whole number when the text is one (at most 9 digits); else the text, for
    validation to name."""
    number = whole_number(text, signed=True)
    return text if number is None else number


def _words(text: str) -> list[str]:
    """A comma-separated list (blank items dropped)."""
    return [w.strip() for w in text.split(",") if w.strip()]


def _put(document: dict, path: str, value: Any) -> None:
    """Set ``a.b`` in ``document`` (``None`` removes it)."""
    head, _sep, leaf = path.rpartition(".")
    target = document.setdefault(head, {}) if head else document
    if value is None:
        target.pop(leaf, None)
    else:
        target[leaf] = value


def changes_from(current: dict, form: dict[str, list[str]],
                 logo: bytes | None) -> dict[str, Any]:
    """The settings document the form asks for, built over ``current``.

    :param logo: an uploaded image, or ``None`` to keep (or, with ``remove_logo``, drop) it.
    """
    doc = copy.deepcopy(current)
    doc["locale"] = first(form, "locale")
    doc["timezone"] = first(form, "timezone")
    doc["currency"] = first(form, "currency").upper()
    doc["channels"] = _words(first(form, "channels"))
    doc["default_channel"] = first(form, "default_channel")
    doc["payment_methods"] = _words(first(form, "payment_methods"))
    for name in NUMBERED:
        doc.setdefault("number_formats", {}).setdefault(name, {})["format"] = first(
            form, f"number_formats.{name}")
    for path in WHOLE:
        _put(doc, path, _number(first(form, path)))
    for path in DECIMALS:
        _put(doc, path, first(form, path))
    for path in OPTIONAL_DECIMALS:
        _put(doc, path, first(form, path) or None)
    doc.setdefault("part_payments", {})["allowed"] = bool(first(form, "part_payments.allowed"))
    doc.setdefault("guest", {})["enabled"] = bool(first(form, "guest.enabled"))
    doc["guest"]["verify"] = [f for f in form.get("guest.verify", []) if f]
    doc.setdefault("autopay", {})["retry_days"] = [
        _number(d) for d in _words(first(form, "autopay.retry_days"))]
    _put(doc, "return_url", first(form, "return_url") or None)
    documents = doc.setdefault("documents", {})
    _put(documents, "address", first(form, "documents.address") or None)
    if logo:
        documents["logo"] = base64.b64encode(logo).decode()
    elif first(form, "remove_logo"):
        documents.pop("logo", None)
    return doc


def field_errors(exc: LoketError) -> dict[str, str]:
    """Each error's message by the form field it belongs to (``$.guest.verify[0]`` ->
    ``guest.verify``); errors about the whole document are under ``""``."""
    found: dict[str, str] = {}
    for error in exc.errors or [{"field": "$", "message": exc.detail}]:
        path = str(error.get("field") or "$").removeprefix("$").lstrip(".").split("[")[0]
        if path.startswith("number_formats."):
            path = ".".join(path.split(".")[:2])
        found.setdefault(path, str(error.get("message", exc.detail)))
    return found


def said(errors: dict[str, str], viewer: Viewer) -> dict[str, Markup]:
    """:func:`field_errors` as the page shows them, in the viewer's language where loket has
    the words (:data:`SAID`, :data:`SHAPES`), else in English marked as such; an error about
    no field of the form after a translated lead."""
    _ = rendering.translations(viewer.locale).gettext
    shown: dict[str, Markup] = {}
    for path, message in errors.items():
        if " does not match " in message and path in SHAPES:
            shown[path] = Markup.escape(_(SHAPES[path]))
            continue
        lead = _(problems.DEFAULT_LEAD) if not path else None
        shown[path] = problems.said(message, viewer.locale, viewer.currency, lead, SAID)
    return shown


def _logo(upload: tuple[str, bytes] | None) -> bytes | None:
    """The uploaded logo (PNG or JPEG), checked."""
    if upload is None or not upload[1]:
        return None
    data = upload[1]
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationFailed("the logo must be at most 256 KiB", field="$.documents.logo")
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        raise ValidationFailed("the logo must be a PNG or JPEG image",
                               field="$.documents.logo")
    return data


class TenantSettings(Page):
    """``GET /console/settings`` (admins read) and ``POST`` (the tenant admin saves)."""

    def show(self, resp: falcon.Response, viewer: Viewer, *, document: dict | None = None,
             errors: dict | None = None, notice: str | None = None,
             status: str = falcon.HTTP_200) -> None:
        """Render the form over ``document`` (the stored settings unless a refused form)."""
        with self.ctx.transaction() as session:
            stored = load_settings(session, viewer.principal.tenant_id).document
            name = tenants.tenant_by_id(session, viewer.principal.tenant_id).name
        doc = {**copy.deepcopy(DEFAULTS), **(document if document is not None else stored)}
        errors = errors or {}
        _ = self.gettext(viewer)
        self.render(resp, "console/settings.html", viewer, status=status, s=doc, name=name,
                    errors=errors, notice=notice,
                    error=_("The settings were not saved: correct the fields marked below.")
                    if errors else None,
                    locales=LOCALES if doc.get("locale") in LOCALES
                    else (*LOCALES, doc.get("locale")),
                    facts=GUEST_FACTS, numbered=NUMBERED,
                    has_logo=bool(stored.get("documents", {}).get("logo")),
                    may_edit=viewer.can(*EDIT), active="/console/settings")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The settings form (read-only for roles that may not change them)."""
        viewer = self.viewer(req, VIEW)
        _ = self.gettext(viewer)
        notice = _("Settings saved.") if req.get_param("done") else None
        self.show(resp, viewer, notice=notice)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Save the form as ``PUT /v1/settings`` would (audited), or show it with errors."""
        viewer, form, files = self.posted_with_files(req, EDIT)
        with self.ctx.transaction() as session:
            current = load_settings(session, viewer.principal.tenant_id).document
        wanted = changes_from(current, form, None)
        try:
            wanted = changes_from(current, form, _logo(files.get("logo")))
            with self.ctx.transaction() as session:
                update_settings(session, viewer.principal.actor(),
                                viewer.principal.tenant_id, wanted,
                                processors=self.ctx.plugins.destinations)
        except LoketError as exc:
            self.show(resp, viewer, document=wanted, errors=said(field_errors(exc), viewer),
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/settings?done=1")

