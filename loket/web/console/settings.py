"""The tenant admin's settings screen: what ``/v1/settings`` holds (language, time zone,
channels and methods, number formats, limits and thresholds, part payments, auto-pay,
approvals, guest payments, the documents' address and logo), edited through the same core
function as the API (validated, each error shown beside its field, audited)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import falcon

from loket.core import tenants
from loket.core.settings import load_settings, update_settings
from loket.core.settings_schema import DEFAULTS, GUEST_FACTS
from loket.errors import LoketError, ValidationFailed
from loket.web.console.base import Page, Viewer, first, see_other, whole_number

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
            self.show(resp, viewer, document=wanted, errors=field_errors(exc),
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, "/console/settings?done=1")

