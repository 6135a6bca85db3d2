"""Process-wide configuration, read from the environment only by entry points.

Library code receives an :class:`AppConfig`; only ``AppConfig.from_env`` reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from loket.errors import ConfigurationError

DEVELOPMENT_KEY_FILE = "secret.key"
"""Where ``loket serve`` and the other development commands keep a random key of their own
(under ``LOKET_VAR_DIR``) when ``LOKET_SECRET_KEY`` is not set."""


@attrs.frozen
class AppConfig:
    """Deployment settings of one loket process.

    :param database_url: SQLAlchemy URL; default SQLite file ``var/loket.db``.
    :param secret_keys: Fernet keys, newest first (``LOKET_SECRET_KEY``, comma-separated);
        the first encrypts, all decrypt (rotation).
    :param base_url: public URL of this loket (webhook and return URLs are built on it).
    :param redis_url: Redis for the job queue (``LOKET_REDIS_URL``); none = SQLite queue.
    :param disabled_plugins: entry-point names not to load (``LOKET_DISABLED_PLUGINS``).
    :param gateway_options: per gateway kind, deployment options such as ``api_base``
        (``LOKET_GATEWAY_OPTIONS`` as JSON, e.g. ``{"stripe": {"api_base": "http://..."}}``).
    :param queue_name: the job queue's name (``LOKET_QUEUE_NAME``), the same for the API
        processes that enqueue and the workers that run.
    :param idempotency_lease_seconds: how long a claimed ``Idempotency-Key`` belongs to the
        request that claimed it (``LOKET_IDEMPOTENCY_LEASE_SECONDS``); after that a retry
        may take it over.
    :param public_rate_limit: requests per source address and minute on the public
        endpoints (webhooks, return, pay pages) before 429 (``LOKET_PUBLIC_RATE_LIMIT``;
        0 switches the limit off).
    :param webhook_rate_limit: the same for webhook URLs (``LOKET_WEBHOOK_RATE_LIMIT``),
        higher because a gateway sends its bursts from a few addresses.
    :param max_in_flight: requests one API process works on at once before it answers 503
        with ``Retry-After`` (``LOKET_MAX_IN_FLIGHT``; 0, the default, admits everything;
        the shipped gunicorn configuration sets it).
    :param admission_queue: requests one API process lets wait for a free slot when
        ``max_in_flight`` are running (``LOKET_ADMISSION_QUEUE``; 0, the default: none wait,
        the excess is refused at once).
    :param admission_wait_ms: how long such a request waits for a slot before it is
        refused (``LOKET_ADMISSION_WAIT_MS``; 0, the default: none wait).
    :param db_pool_timeout: seconds a request waits for a database connection before it
        fails (``LOKET_DB_POOL_TIMEOUT``).
    :param db_statement_timeout_ms: PostgreSQL ``statement_timeout`` of this process's
        connections (``LOKET_DB_STATEMENT_TIMEOUT_MS``; 0, the default, is none; the shipped
        gunicorn configuration sets it for API processes).
    :param host_webhooks_allow_private: host webhook endpoints may be on loopback, private
        or link-local addresses and use plain ``http://``
        (``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE=1``: the host application is on the operator's
        own network); off by default, only public ``https://`` endpoints.
    :param smtp_ca_file: the CA certificates (PEM) the SMTP server's certificate is checked
        against after STARTTLS (``LOKET_SMTP_CA_FILE``; default: the system's).
    :param outbox_retention_days: how long finished outbox deliveries, their events and the
        host events feed are kept (``LOKET_OUTBOX_RETENTION_DAYS``; default 90, 0 keeps
        them for ever): :mod:`loket.core.outbox.retention`.
    """

    database_url: str = "sqlite:///var/loket.db"
    secret_keys: tuple[str, ...] = ()
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    queue: str = "sqlite"
    var_dir: Path = Path("var")
    disabled_plugins: tuple[str, ...] = ()
    gateway_options: dict = attrs.field(factory=dict)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_tls: bool = False
    smtp_sender: str = "loket@localhost"
    smtp_ca_file: str | None = None
    token_ttl_seconds: int = 3600
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 2_000_000_000  # a reconciliation file sent as the raw body
    # Hosts (``host`` for any port, or ``host:port``) loket may fetch reconciliation files
    # from by URL (LOKET_REPORT_URL_HOSTS, comma-separated; none by default).
    report_url_hosts: tuple[str, ...] = ()
    # ``inline``: a webhook's events are applied before it is acknowledged; ``deferred``:
    # acknowledged once stored, applied by the worker in batches (LOKET_WEBHOOK_APPLY).
    webhook_apply: str = "inline"
    webhook_max_attempts: int = 12  # about 9 hours of retries with the 1-hour cap
    queue_name: str = "loket"
    idempotency_lease_seconds: int = 120
    public_rate_limit: int = 120
    webhook_rate_limit: int = 1200
    public_rate_window_seconds: int = 60
    # Per message channel, deployment options (``LOKET_CHANNEL_OPTIONS`` as JSON), e.g.
    # ``{"sms": {"account_sid": "AC…", "auth_token": "…", "from": "+1…"}}``; each entry goes
    # only to the plugin that declared its channel.
    channel_options: dict = attrs.field(factory=dict)
    max_in_flight: int = 0
    admission_queue: int = 0
    admission_wait_ms: int = 0
    db_pool_timeout: int = 10
    db_statement_timeout_ms: int = 0
    host_webhooks_allow_private: bool = False
    outbox_retention_days: int = 90

    @classmethod
    def from_env(cls, environ: dict | None = None, *,
                 development_key: bool = False) -> AppConfig:
        """Build the configuration from ``LOKET_*`` environment variables.

        Called once by each entry point.

        :param development_key: without ``LOKET_SECRET_KEY``, use (and on first use create)
            a random key in ``{LOKET_VAR_DIR}/secret.key``: what ``loket serve`` and the
            administration commands do on a developer's machine. The production entry points
            (``get_app()``, ``loket worker``) pass ``False``.
        :raises ConfigurationError: ``LOKET_SECRET_KEY`` is not set and no development key
            was asked for, or a variable holds what it cannot (the message names it).
        """
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("LOKET_VAR_DIR", "var"))
        keys = _secret_keys(env, var_dir, development_key)
        numbers = _whole_numbers(env)
        redis_url = env.get("LOKET_REDIS_URL") or None
        return cls(
            database_url=env.get("LOKET_DATABASE_URL", f"sqlite:///{var_dir / 'loket.db'}"),
            secret_keys=keys,
            base_url=env.get("LOKET_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            redis_url=redis_url,
            queue=env.get("LOKET_QUEUE", "redis" if redis_url else "sqlite"),
            var_dir=var_dir,
            disabled_plugins=_names(env, "LOKET_DISABLED_PLUGINS"),
            gateway_options=_json_object(env, "LOKET_GATEWAY_OPTIONS"),
            channel_options=_json_object(env, "LOKET_CHANNEL_OPTIONS"),
            webhook_apply=_webhook_apply(env),
            queue_name=env.get("LOKET_QUEUE_NAME") or "loket",
            report_url_hosts=_names(env, "LOKET_REPORT_URL_HOSTS"),
            host_webhooks_allow_private=_switched_on(env, "LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE"),
            **_smtp(env),
            **numbers,
        )


def configured_secret_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """The keys ``LOKET_SECRET_KEY`` holds in ``env`` (comma-separated, newest first); none
    when it is not set: the commands then fall back to the development key."""
    return _names(env, "LOKET_SECRET_KEY")


def _secret_keys(env, var_dir: Path, development_key: bool) -> tuple[str, ...]:
    """The keys of ``LOKET_SECRET_KEY``, or the development key of ``var_dir`` when there
    are none and ``development_key`` asks for it.

    :raises ConfigurationError: no key, and no development key asked for.
    """
    keys = configured_secret_keys(env)
    if not keys and development_key:
        keys = (development_secret_key(var_dir),)
    if not keys:
        raise ConfigurationError(
            "LOKET_SECRET_KEY is not set: loket will not run on a key anyone could know. "
            "Generate one with `loket keys generate` and set LOKET_SECRET_KEY (comma-"
            "separated, newest first, when rotating)")
    return keys


_WHOLE_NUMBERS = (  # field, variable, default
    ("idempotency_lease_seconds", "LOKET_IDEMPOTENCY_LEASE_SECONDS", "120"),
    ("public_rate_limit", "LOKET_PUBLIC_RATE_LIMIT", "120"),
    ("webhook_rate_limit", "LOKET_WEBHOOK_RATE_LIMIT", "1200"),
    ("max_in_flight", "LOKET_MAX_IN_FLIGHT", "0"),
    ("admission_queue", "LOKET_ADMISSION_QUEUE", "0"),
    ("admission_wait_ms", "LOKET_ADMISSION_WAIT_MS", "0"),
    ("db_pool_timeout", "LOKET_DB_POOL_TIMEOUT", "10"),
    ("db_statement_timeout_ms", "LOKET_DB_STATEMENT_TIMEOUT_MS", "0"),
    ("max_upload_bytes", "LOKET_MAX_UPLOAD_BYTES", "2000000000"),
    ("outbox_retention_days", "LOKET_OUTBOX_RETENTION_DAYS", "90"),
)
_NOT_NEGATIVE = ("max_in_flight", "admission_queue", "admission_wait_ms",
                 "outbox_retention_days")


def _whole_numbers(env) -> dict[str, Any]:
    """The limits, timeouts and sizes given as whole numbers, by field name.

    :raises ConfigurationError: one is not a whole number, or one that counts something
        is below 0 (the variable named).
    """
    try:
        numbers = {field: int(env.get(name, default)) for field, name, default in _WHOLE_NUMBERS}
    except ValueError as exc:
        raise ConfigurationError(f"LOKET_IDEMPOTENCY_LEASE_SECONDS, LOKET_PUBLIC_RATE_LIMIT, "
                                 f"LOKET_WEBHOOK_RATE_LIMIT, LOKET_MAX_IN_FLIGHT, "
                                 f"LOKET_ADMISSION_*, LOKET_MAX_UPLOAD_BYTES, "
                                 f"LOKET_OUTBOX_RETENTION_DAYS and "
                                 f"LOKET_DB_* timeouts are whole numbers: "
                                 f"{exc}") from None
    for field, name, _default in _WHOLE_NUMBERS:
        if field in _NOT_NEGATIVE and numbers[field] < 0:
            raise ConfigurationError(f"{name} must be 0 or more, not {numbers[field]}")
    return numbers


def _json_object(env, name: str) -> dict:
    """The JSON document of the variable ``name`` (``{}`` when unset).

    :raises ConfigurationError: it is not JSON (the variable named).
    """
    try:
        return json.loads(env.get(name, "{}"))
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid JSON: {exc}") from None


def _names(env, name: str) -> tuple[str, ...]:
    """The comma-separated names of the variable ``name``, blanks left out."""
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _switched_on(env, name: str) -> bool:
    return env.get(name, "") in ("1", "true", "yes")


def _webhook_apply(env) -> str:
    """``LOKET_WEBHOOK_APPLY``: ``inline`` (the default) or ``deferred``.

    :raises ConfigurationError: anything else.
    """
    webhook_apply = env.get("LOKET_WEBHOOK_APPLY", "inline")
    if webhook_apply not in ("inline", "deferred"):
        raise ConfigurationError(f"LOKET_WEBHOOK_APPLY is inline or deferred, not "
                                 f"{webhook_apply!r}")
    return webhook_apply


def _smtp(env) -> dict[str, Any]:
    """The mail server's settings (``LOKET_SMTP_*``), by field name."""
    return {"smtp_host": env.get("LOKET_SMTP_HOST", "127.0.0.1"),
            "smtp_port": int(env.get("LOKET_SMTP_PORT", "25")),
            "smtp_tls": _switched_on(env, "LOKET_SMTP_TLS"),
            "smtp_sender": env.get("LOKET_SMTP_SENDER", "loket@localhost"),
            "smtp_ca_file": env.get("LOKET_SMTP_CA_FILE") or None}


def development_secret_key(var_dir: Path) -> str:
    """The development key kept in ``{var_dir}/secret.key``: read it, or create a random one
    (readable by its owner only) on first use. Returns the key."""
    from cryptography.fernet import Fernet  # noqa: PLC0415 - only development needs it here

    path = Path(var_dir) / DEVELOPMENT_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(key + "\n")
    return path.read_text().strip()
