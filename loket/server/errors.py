"""One place that turns errors into ``application/problem+json`` (RFC 9457) responses."""

from __future__ import annotations

import json
import logging
import sqlite3

import falcon
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

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


def _overloaded(req, resp, exc: Exception, params) -> None:
    """No database connection (or a statement cut off by its timeout): the server is
    overloaded; the client may retry shortly."""
    log.warning("request %s refused: %s", getattr(req.context, "request_id", "-"),
                type(exc).__name__)
    resp.set_header("Retry-After", "1")
    _send(resp, {"type": "about:blank", "title": "Overloaded", "status": 503,
                 "detail": "the server is busy; retry after 1 s"})


_CONTENDED = frozenset({"40P01", "40001", "55P03"})
"""PostgreSQL's deadlock_detected, serialization_failure and lock_not_available: the
transaction lost to a concurrent one and was rolled back whole."""


def _database_error(req, resp, exc: DBAPIError, params) -> None:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "57014":  # the statement ran past statement_timeout
        _overloaded(req, resp, exc, params)
    elif sqlstate in _CONTENDED or (isinstance(exc.orig, sqlite3.OperationalError)
                                    and "database is locked" in str(exc.orig)):
        _contended(req, resp, exc)
    else:
        _unexpected(req, resp, exc, params)


def _contended(req, resp, exc: DBAPIError) -> None:
    """A concurrent change held what the request needed (a deadlock, SQLite's write lock):
    the transaction that lost was rolled back whole, and the request may be sent again
    (what committed before it, a stored webhook or a gateway's idempotent refund, is
    recognised as the same request)."""
    log.warning("request %s lost to a concurrent change: %s",
                getattr(req.context, "request_id", "-"), str(exc.orig).splitlines()[0][:200])
    resp.set_header("Retry-After", "1")
    _send(resp, {"type": "about:blank", "title": "Concurrent change", "status": 503,
                 "detail": "a concurrent change held what this request needed and its "
                           "change was rolled back; send it again (with the same "
                           "Idempotency-Key) after 1 s"})


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
    app.add_error_handler(PoolTimeout, _overloaded)
    app.add_error_handler(DBAPIError, _database_error)


def send_problem(req, resp, exc: LoketError, params) -> None:
    """Answer ``exc`` as a problem document (the pages' handler hands API requests here)."""
    _loket_error(req, resp, exc, params)


def send_http_problem(req, resp, exc: falcon.HTTPError, params) -> None:
    """Answer Falcon's ``exc`` as a problem document (the pages' handler hands API requests
    here)."""
    _http_error(req, resp, exc, params)


def send_unexpected(req, resp, exc: Exception, params) -> None:
    """Log ``exc`` and answer 500 without a trace (the pages' handler hands API requests
    here)."""
    _unexpected(req, resp, exc, params)
