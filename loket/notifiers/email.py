"""The built-in e-mail notifier: a ``loket_notify`` plugin that sends over SMTP.

Entry point ``email`` (group ``loket``). The module itself is registered first and does
nothing: it cannot know where to send from. The process that owns the container binds it
at start — :func:`loket.jobs.wiring.install_builtins` replaces the module with an
:class:`EmailNotifier` built from ``AppConfig.smtp_*`` (``LOKET_SMTP_HOST``,
``LOKET_SMTP_PORT``, ``LOKET_SMTP_TLS``, ``LOKET_SMTP_SENDER``, ``LOKET_SMTP_CA_FILE``).
STARTTLS checks the server's certificate and name; a whole conversation with the server
takes at most ``deadline_seconds``. When a job queue is wired
the notifier only enqueues the message, and the worker sends it with retries, so a slow or
broken mail server never holds up a request.

SMS or app push are other ``loket_notify`` plugins; see ``docs/operations.md``.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import attrs

from loket.plugin_api import CONTRACT_VERSION, ConfigurationError, Notification, hookimpl

LOKET_CONTRACT = CONTRACT_VERSION

log = logging.getLogger(__name__)


@attrs.frozen
class SmtpSettings:
    """Where and how to send: ``tls`` means STARTTLS after connecting, the server's
    certificate checked against ``ca_file`` (PEM; default: the system's CAs);
    ``timeout_seconds`` bounds each exchange with the server, ``deadline_seconds`` the whole
    conversation (under the outbox's two-minute lease)."""

    host: str = "127.0.0.1"
    port: int = 25
    tls: bool = False
    sender: str = "loket@localhost"
    timeout_seconds: int = 10
    ca_file: str | None = None
    deadline_seconds: int = 60

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings:
        """Take the SMTP settings of an :class:`~loket.core.config.AppConfig`."""
        return cls(host=config.smtp_host, port=config.smtp_port, tls=config.smtp_tls,
                   sender=config.smtp_sender, ca_file=config.smtp_ca_file)


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """The TLS context STARTTLS uses: the certificate must chain to a trusted CA
    (``ca_file``, else the system's) and name the host loket connected to.

    Called for each connection (``send``, and ``loket doctor``'s SMTP check).
    """
    return ssl.create_default_context(cafile=settings.ca_file)


def build_message(settings: SmtpSettings, notification: Notification) -> EmailMessage:
    """The e-mail for a notification: plain text, one message to all its recipients."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(notification.recipients)
    message["Subject"] = notification.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message["X-Loket-Kind"] = notification.kind
    message.set_content(notification.body)
    return message


def email_recipients(notification: Notification) -> tuple[str, ...]:
    """The recipients that look like e-mail addresses (other channels may share the list)."""
    return tuple(r for r in notification.recipients if "@" in r)


def send(settings: SmtpSettings, notification: Notification) -> bool:
    """Send a notification now.

    :returns: ``False`` when it has no e-mail recipient (nothing to send).
    :raises OSError: or :class:`smtplib.SMTPException` when the server cannot be reached or
        refuses — the worker's task retries.
    """
    recipients = email_recipients(notification)
    if not recipients:
        return False
    message = build_message(settings, attrs.evolve(notification, recipients=recipients))
    deadline = _Deadline(settings.deadline_seconds)
    try:
        with deadline, _Smtp(settings, deadline) as smtp:
            if settings.tls:
                smtp.starttls(context=tls_context(settings))
            # The envelope, not the To header, names who receives it: a recipient holding
            # several addresses ("a@x, b@y") reaches one mailbox at most, never each.
            smtp.send_message(message, to_addrs=list(recipients))
    except (OSError, smtplib.SMTPException) as exc:
        if deadline.expired:
            raise TimeoutError(f"the SMTP server took over {settings.deadline_seconds:g} s"
                               ) from exc
        raise
    log.info("e-mail %s sent to %d recipient(s)", notification.kind, len(recipients))
    return True


Seconds = float  # a duration (time, never money)


class _Deadline:
    """Shuts the socket it watches down ``seconds`` after it is entered: a server that
    answers a byte at a time cannot hold the sender (``timeout_seconds`` bounds each
    exchange, not their sum). It keeps a duplicate of the socket, which STARTTLS leaves
    valid. (This plugin imports nothing but the plugin API: ``loket.core.net.Deadline``
    does the same for the outbox's HTTP sends.)"""

    def __init__(self, seconds: int) -> None:
        self.seconds, self.expired = seconds, False
        self._cut: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            if self._cut is not None:
                self._cut.close()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._cut = sock.dup()
        if self.expired:
            self._expire()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._cut is not None:
                try:
                    self._cut.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the conversation has ended


class _Smtp(smtplib.SMTP):
    """smtplib's client, connected to ``settings``' server, its socket watched by the
    deadline."""

    def __init__(self, settings: SmtpSettings, deadline: _Deadline) -> None:
        self.deadline = deadline
        super().__init__(settings.host, settings.port, timeout=settings.timeout_seconds)

    def _get_socket(self, host: str, port: int, timeout: Seconds) -> socket.socket:
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self.deadline.watch(sock)
        return sock


class EmailNotifier:
    """The bound notifier.

    :param settings: the SMTP settings.
    :param enqueue: hands the notification to the job queue; ``None`` sends at once.
    """

    LOKET_CONTRACT = CONTRACT_VERSION

    def __init__(self, settings: SmtpSettings,
                 enqueue: Callable[[Notification], object] | None = None) -> None:
        self.settings = settings
        self.enqueue = enqueue

    @hookimpl
    def loket_channel_describe(self) -> tuple[str, ...]:
        """The ``email`` message channel."""
        return ("email",)

    @hookimpl
    def loket_channel_send(self, channel: str, recipient: str, message: Notification,
                           options: dict) -> str | None:
        """Send one outbox message by e-mail now (the outbox worker retries on failure).

        :raises OSError: or :class:`smtplib.SMTPException` when the server fails.
        """
        if channel != "email":
            return None
        send(self.settings, attrs.evolve(message, recipients=(recipient,)))
        return "smtp"

    @hookimpl
    def loket_notify(self, notification: Notification) -> None:
        """Queue (or send) the e-mail; never raises, so other notifiers still run.
        Notifications the outbox carries (``data["outbox"]``) are sent by it instead."""
        if not email_recipients(notification) or notification.data.get("outbox"):
            return
        try:
            if self.enqueue is not None:
                self.enqueue(notification)
            else:
                send(self.settings, notification)
        except Exception:  # noqa: BLE001 - a mail problem must not stop other notifiers
            log.exception("e-mail %s could not be %s", notification.kind,
                          "queued" if self.enqueue else "sent")


@hookimpl
def loket_notify(notification: Notification) -> None:
    """Unbound: the container has not set the SMTP settings yet, so nothing is sent."""
    log.debug("e-mail notifier not configured; %s not sent", notification.kind)


@hookimpl
def loket_channel_describe():
    """The ``email`` message channel (sent once the container binds the SMTP settings)."""
    return ("email",)


@hookimpl
def loket_channel_send(channel, recipient, message, options):
    """Unbound: this process has no SMTP settings; the delivery stays pending for a worker
    that has them."""
    if channel != "email":
        return None
    raise ConfigurationError("e-mail is not configured in this process")
