"""The key a ``loket`` command works with: ``LOKET_SECRET_KEY``, or, when it is not set, the
development key of ``{LOKET_VAR_DIR}/secret.key`` (``make run``, ``loket demo`` on a
developer's machine). A command that reads or writes stored secrets refuses to run on the
development key against a database holding a secret that key does not decrypt: production's,
reached from a shell that lacks ``LOKET_SECRET_KEY``."""

from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy import select

from loket.core import models
from loket.core.config import DEVELOPMENT_KEY_FILE, configured_secret_keys
from loket.errors import ConfigurationError

ENCRYPTED_COLUMNS = (("GatewayConfiguration", "credentials_encrypted", "gateway configuration"),
                     ("HostWebhookEndpoint", "secret_encrypted", "webhook endpoint secret"),
                     ("HostWebhookEndpoint", "previous_secret_encrypted",
                      "rotated-out webhook endpoint secret"))
"""Every column ``LOKET_SECRET_KEY`` encrypts: model, column, what ``keys rotate`` calls it."""


def on_development_key(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a command run with ``environ`` (the process's by default) falls back to the
    development key: ``LOKET_SECRET_KEY`` is not set or holds no key."""
    return not configured_secret_keys(os.environ if environ is None else environ)


def refuse_a_foreign_database(ctx) -> None:
    """Called by a command that reads or writes stored secrets, with its container, before
    it does: on the development key, refuse a database holding an encrypted value that key
    does not decrypt, where every gateway call would fail and every secret written would be
    one the server cannot read. A development database, whose values that key encrypted
    (``make run``, ``loket demo``), or one without secrets, passes; so does any database
    when ``LOKET_SECRET_KEY`` is set.

    :raises ConfigurationError: naming ``LOKET_SECRET_KEY`` and the first value not read.
    """
    if not on_development_key():
        return
    with ctx.transaction() as session:
        for name, column, label in ENCRYPTED_COLUMNS:
            model = getattr(models, name)
            value = getattr(model, column)
            for row_id, token in session.execute(select(model.id, value).where(
                    value.is_not(None)).order_by(model.id)):
                try:
                    ctx.secrets.decrypt(token)
                except ConfigurationError:
                    raise ConfigurationError(
                        f"LOKET_SECRET_KEY is not set and the development key "
                        f"({ctx.config.var_dir / DEVELOPMENT_KEY_FILE}) does not decrypt "
                        f"{label} {row_id}: this database's secrets were encrypted with "
                        f"another key. Set LOKET_SECRET_KEY as the server and the worker "
                        f"have it") from None
