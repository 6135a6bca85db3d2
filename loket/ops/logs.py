"""Structured logs: one configuration for the API, the worker and the CLI.

Every line, whether written through ``structlog.get_logger()`` or the standard library's
``logging`` (loket's own modules, gunicorn, Huey, SQLAlchemy), goes through the same
processors: the context bound for the current request, task or command (request id,
tenant, route template, payment number, event id …) is merged in, secrets are masked, and
the line is rendered as JSON (production) or as readable key=value text (development).

Context is bound with :func:`bind` (merged into every later line of this request, task or
command) and cleared with :func:`clear` at the start of the next one.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import attrs
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

FORMATS = ("json", "console")

# A key whose name says it holds a secret has its value masked wherever it appears.
SECRET_KEY_NAMES = re.compile(
    r"(secret|token|password|passwd|api[_-]?key|authorization|credential|signature|cookie"
    r"|private[_-]?key|fernet)", re.IGNORECASE)
# Webhook URLs carry their endpoint token as the last path segment.
WEBHOOK_PATH = re.compile(r"(/v1/webhooks/[A-Za-z0-9_.-]{1,40}/)[A-Za-z0-9_-]+")
BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# A loket API key or consumer token that slipped into a message by itself.
LOKET_KEYS = re.compile(r"\b(lk_)[A-Za-z0-9_-]{16,}")
MASK = "***"


@attrs.frozen
class LogSettings:
    """How a process writes its logs.

    :param format: ``json`` (one JSON object a line, for production) or ``console``
        (readable, for development).
    :param level: the lowest level written (``INFO``).
    """

    format: str = "console"
    level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default_format: str | None = None
                 ) -> LogSettings:
        """Read ``LOKET_LOG_FORMAT`` (json|console) and ``LOKET_LOG_LEVEL``.

        Called by the entry points (``loket``, ``loket worker``, the gunicorn config). Without
        ``LOKET_LOG_FORMAT`` the format is ``default_format`` when given, else ``console`` on
        a terminal and ``json`` otherwise (a service's output is read by machines).
        """
        fmt = (environ.get("LOKET_LOG_FORMAT") or default_format
               or ("console" if sys.stderr.isatty() else "json")).lower()
        if fmt not in FORMATS:
            fmt = "json"
        level = (environ.get("LOKET_LOG_LEVEL") or "INFO").upper()
        if not isinstance(logging.getLevelName(level), int):
            level = "INFO"
        return cls(format=fmt, level=level)


def _quiet_default() -> None:
    """Until an entry point calls :func:`configure`, structlog lines go to the standard
    library's ``logging`` like any other (an embedding host's handlers, pytest's capture)
    instead of structlog's default of printing to standard output."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, redact,
                        structlog.stdlib.render_to_log_kwargs],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False)


_SCRUBBABLE = re.compile(r"/v1/webhooks/|bearer|lk_", re.IGNORECASE)
"""What each of the three patterns above needs in a text: most texts have none of it."""


def scrub_text(text: str) -> str:
    """``text`` with webhook path tokens, bearer credentials and loket keys masked."""
    if not _SCRUBBABLE.search(text):
        return text
    text = WEBHOOK_PATH.sub(r"\1" + MASK, text)
    text = BEARER.sub(r"\1" + MASK, text)
    return LOKET_KEYS.sub(r"\1" + MASK, text)


@functools.lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    return SECRET_KEY_NAMES.search(key) is not None


def _scrub_value(key: str, value: Any) -> Any:
    if _secret_name(key):
        return MASK if value not in (None, "") else value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(key, v) for v in value]
    return value


def redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every field of a line (keys named like a
    secret, webhook path tokens, bearer credentials, loket API keys in text)."""
    return {key: _scrub_value(key, value) for key, value in event_dict.items()}


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
    ]


def formatter(settings: LogSettings) -> structlog.stdlib.ProcessorFormatter:
    """The ``logging.Formatter`` that renders every line (also gunicorn's) loket's way."""
    renderer: Processor
    if settings.format == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
        final: list[Processor] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        final = []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *final, redact, renderer])


def configure(settings: LogSettings, stream: Any = None) -> None:
    """Route every log line of this process through loket's processors.

    Called once by each entry point (the CLI, the worker, the gunicorn config), before the
    container is built. Replaces the root logger's handlers; safe to call again (tests).

    :param stream: where lines go (standard error by default).
    """
    structlog.configure(
        processors=[*_shared_processors(), redact,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler: logging.Handler = (logging.StreamHandler(stream) if stream is not None
                                else _StderrHandler())
    handler.setFormatter(formatter(settings))
    handler._loket = True  # type: ignore[attr-defined]  # marks the handler loket installed
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_loket", False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    # Quiet libraries that narrate every connection at INFO.
    for noisy in ("huey.consumer.Scheduler", "urllib3.connectionpool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each line (a test that swaps
    it, a daemon that reopens it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextmanager
def configured(settings: LogSettings) -> Iterator[None]:
    """:func:`configure` for the duration of a ``with`` block (one run of the ``loket``
    command), then put the process's logging back as it was (a host or a test that calls
    the command in-process keeps its own)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = structlog.get_config()
    configure(settings)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.configure(**saved)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (``log.info("event", key=value)``)."""
    return structlog.stdlib.get_logger(name)


def bind(**values: Any) -> None:
    """Bind ``values`` to every later line of the current request, task or command.

    ``None`` values are skipped, so callers can pass what they may not know yet.
    """
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items()
                                              if v is not None})


def clear() -> None:
    """Forget the context bound so far (at the start of a request, task or command)."""
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind ``values`` for the duration of a ``with`` block, then restore what was bound."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in values.items()
                                                    if v is not None}):
        yield


def current() -> MutableMapping[str, Any]:
    """The context bound for the current request, task or command."""
    return structlog.contextvars.get_contextvars()


@contextmanager
def scope() -> Iterator[None]:
    """Whatever is bound inside the ``with`` block is forgotten after it: the context is
    put back exactly as it was (one event of a batch, one task of a worker)."""
    saved = dict(structlog.contextvars.get_contextvars())
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**saved)


_quiet_default()
