"""The one error hierarchy of loket.

Each class is named for what the caller does next and carries an HTTP status and a stable
machine-readable ``code``; the server maps them to ``application/problem+json`` in one
handler. Plugins raise these too (they are part of the public plugin API).
"""

from __future__ import annotations


class LoketError(Exception):
    """Base of every error loket raises on purpose."""

    status = 500
    code = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None, errors: list | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        if field and not self.errors:
            self.errors.append({"field": field, "message": detail})

    def to_problem(self) -> dict:
        """Return the RFC 9457 problem document for this error (no stack trace, ever)."""
        problem = {
            "type": f"https://loket.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            problem["errors"] = self.errors
        return problem


class ValidationFailed(LoketError):
    """Input is wrong: fix the named field(s) and send again."""

    status = 422
    code = "validation"
    title = "Invalid input"


class BadRequest(LoketError):
    """The request cannot be read (malformed JSON): fix it and send again."""

    status = 400
    code = "bad-request"
    title = "Malformed request"


class TooLarge(LoketError):
    """The body is larger than the server accepts."""

    status = 413
    code = "too-large"
    title = "Body too large"


class UnsupportedMediaType(LoketError):
    """The body is not ``application/json``."""

    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class NotFound(LoketError):
    """No such object for this caller (also used for objects of another tenant/consumer)."""

    status = 404
    code = "not-found"
    title = "Not found"


class Forbidden(LoketError):
    """The caller's role may not do this."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unauthorized(LoketError):
    """No valid credential was presented."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Conflict(LoketError):
    """The request conflicts with the current state (duplicate, reused key, wrong state)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(LoketError):
    """What the request names was kept for a while and is deleted now (a feed cursor older
    than the outbox retention): start again from what is kept, which the detail names."""

    status = 410
    code = "gone"
    title = "No longer available"


class GatewayError(LoketError):
    """The gateway refused or failed; ``gateway_message`` keeps its own words verbatim.

    ``message`` (the detail) is what loket shows people; ``gateway_message`` and
    ``gateway_code`` are the gateway's own text and code, kept apart (django-payments style).
    """

    status = 502
    code = "gateway"
    title = "Gateway error"

    def __init__(
        self,
        detail: str,
        *,
        gateway_message: str | None = None,
        gateway_code: str | None = None,
        category: str = "technical",
        field: str | None = None,
        errors: list | None = None,
    ):
        super().__init__(detail, field=field, errors=errors)
        self.gateway_message = gateway_message
        self.gateway_code = gateway_code
        self.category = category

    reason: str | None = None
    """Why a credential check failed (``wrong_key``, ``unreachable``, ``refused``), when the
    error answers one."""

    def to_problem(self) -> dict:
        problem = super().to_problem()
        if self.gateway_message:
            problem["gateway_message"] = self.gateway_message
        if self.gateway_code:
            problem["gateway_code"] = self.gateway_code
        if self.reason:
            problem["reason"] = self.reason
        return problem


class CredentialsRejected(GatewayError):
    """Credentials are malformed or the gateway refused them: review the fields and retry."""

    status = 422
    code = "credentials"
    title = "Credentials rejected"


class CredentialsCheckFailed(GatewayError):
    """The live check of credentials could not be made: the gateway was unreachable
    (``reason="unreachable"``) or failed (``"refused"``); check the details and retry."""

    status = 502
    code = "credentials_check_failed"
    title = "Credentials could not be checked"

    def __init__(self, detail: str, *, reason: str, **kwargs):
        super().__init__(detail, category="network" if reason == "unreachable" else
                         "technical", **kwargs)
        self.reason = reason


class RefundNotPossible(GatewayError):
    """The gateway cannot refund this online (manual refund needed) or the amount is wrong."""

    status = 422
    code = "refund-not-possible"
    title = "Refund not possible"


class NotSupported(LoketError):
    """The gateway does not implement this optional part of the contract: choose another
    gateway or another way (mandates, settlement fetch, report files...).

    Raised when loket calls an optional gateway hook on a gateway plugin that lacks it.
    """

    status = 422
    code = "not-supported"
    title = "Not supported by this gateway"


class WebhookRejected(LoketError):
    """A webhook failed verification (signature, timestamp, size): answer 4xx, change nothing."""

    status = 400
    code = "webhook-rejected"
    title = "Webhook rejected"


class Undeliverable(LoketError):
    """A message channel refused a message for good (an invalid number, a recipient who
    unsubscribed): sending it again cannot succeed, so the delivery is given up at once
    (``dead``, with its to-do) instead of being retried for days."""

    status = 422
    code = "undeliverable"
    title = "Message refused for good"


class PluginError(LoketError):
    """A plugin could not be loaded or broke the contract."""

    status = 500
    code = "plugin"
    title = "Plugin error"


class HookNotImplemented(PluginError):
    """No installed plugin answered a hook for this gateway or processor (it lacks the
    feature); the core turns it into a 4xx where the feature is optional."""


class ConfigurationError(LoketError):
    """loket is mis-configured (missing secret key, bad settings): fix the configuration."""

    status = 500
    code = "configuration"
    title = "Configuration error"

