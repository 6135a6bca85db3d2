"""Process-wide configuration, read from the environment only by entry points.

Library code receives an :class:`AppConfig`; only ``AppConfig.from_env`` reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

from loket.errors import ConfigurationError

DEV_SECRET_KEY = "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="  # development only; set LOKET_SECRET_KEY in production


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
    """

    database_url: str = "sqlite:///var/loket.db"
    secret_keys: tuple[str, ...] = (DEV_SECRET_KEY,)
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
    token_ttl_seconds: int = 3600
    max_body_bytes: int = 1_000_000
    webhook_max_attempts: int = 12  # about 9 hours of retries with the 1-hour cap
    # Per message channel, deployment options (``LOKET_CHANNEL_OPTIONS`` as JSON), e.g.
    # ``{"sms": {"account_sid": "AC…", "auth_token": "…", "from": "+1…"}}``.
    channel_options: dict = attrs.field(factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> AppConfig:
        """Build the configuration from ``LOKET_*`` environment variables."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("LOKET_VAR_DIR", "var"))
        keys = tuple(k.strip() for k in env.get("LOKET_SECRET_KEY", "").split(",") if k.strip())
        try:
            options = json.loads(env.get("LOKET_GATEWAY_OPTIONS", "{}"))
        except ValueError as exc:
            raise ConfigurationError(f"LOKET_GATEWAY_OPTIONS is not valid JSON: {exc}") from None
        try:
            channel_options = json.loads(env.get("LOKET_CHANNEL_OPTIONS", "{}"))
        except ValueError as exc:
            raise ConfigurationError(f"LOKET_CHANNEL_OPTIONS is not valid JSON: {exc}") from None
        redis_url = env.get("LOKET_REDIS_URL") or None
        return cls(
            database_url=env.get("LOKET_DATABASE_URL", f"sqlite:///{var_dir / 'loket.db'}"),
            secret_keys=keys or (DEV_SECRET_KEY,),
            base_url=env.get("LOKET_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            redis_url=redis_url,
            queue=env.get("LOKET_QUEUE", "redis" if redis_url else "sqlite"),
            var_dir=var_dir,
            disabled_plugins=tuple(
                p.strip() for p in env.get("LOKET_DISABLED_PLUGINS", "").split(",") if p.strip()),
            gateway_options=options,
            smtp_host=env.get("LOKET_SMTP_HOST", "127.0.0.1"),
            smtp_port=int(env.get("LOKET_SMTP_PORT", "25")),
            smtp_tls=env.get("LOKET_SMTP_TLS", "") in ("1", "true", "yes"),
            smtp_sender=env.get("LOKET_SMTP_SENDER", "loket@localhost"),
            channel_options=channel_options,
        )
