"""One place that turns errors into ``application/problem+json`` (RFC 9457) responses."""

from __future__ import annotations

import json
import logging

import falcon

from loket.errors import LoketError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def _send(resp, problem: dict) -> None:
    resp.status = falcon.code_to_http_status(problem["status"])
    resp.content_type = PROBLEM
    resp.text = json.dumps(problem)


def _loket_error(req, resp, exc: LoketError, params) -> None:
    if exc.status >= 500:
        log.error("request %s failed: %s", getattr(req.context, "request_id", "-"), exc.detail)
    _send(resp, exc.to_problem())


def _http_error(req, resp, exc: falcon.HTTPError, params) -> None:
    status = int(str(exc.status).split()[0]) if not isinstance(exc.status, int) else exc.status
    problem = {"type": "about:blank", "title": exc.title or "Error", "status": status,
               "detail": exc.description or exc.title or ""}
    if isinstance(exc, falcon.HTTPStatus):  # pragma: no cover - not an error
        raise exc
    for header, value in dict(exc.headers or {}).items():
        resp.set_header(header, value)
    _send(resp, problem)


def _unexpected(req, resp, exc: Exception, params) -> None:
    log.exception("unexpected error in request %s", getattr(req.context, "request_id", "-"))
    _send(resp, {"type": "about:blank", "title": "Internal error", "status": 500,
                 "detail": "an unexpected error occurred; it has been logged with request id "
                           f"{getattr(req.context, 'request_id', '-')}"})


def register_error_handlers(app: falcon.App) -> None:
    """Install the handlers: loket errors, Falcon errors, anything else (never a trace)."""
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_error_handler(LoketError, _loket_error)


def send_problem(req, resp, exc: LoketError, params) -> None:
    """Answer ``exc`` as a problem document (the pages' handler hands API requests here)."""
    _loket_error(req, resp, exc, params)
