"""The container of one loket process: configuration, database, plugins, secrets, clock.

Built once by an entry point (``create_app``, the CLI, the worker) and handed to everything
else; there is no import-time state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import attrs
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from loket.core.config import AppConfig
from loket.core.db import make_engine, make_session_factory, statements, transaction
from loket.core.secrets import SecretBox
from loket.core.settings import check_digits
from loket.core.tenants import TokenSigner
from loket.plugins import Plugins


def utcnow() -> dt.datetime:
    """The one clock: an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


@attrs.define
class Loket:
    """Everything the core needs to run, passed explicitly."""

    config: AppConfig
    engine: Engine
    sessions: sessionmaker[Session]
    plugins: Plugins
    secrets: SecretBox
    clock: Callable[[], dt.datetime] = utcnow
    cache: dict = attrs.field(factory=dict)  # values read once per process (installation id)
    # Hands an outbox event (row id) to the job queue right after its transaction commits;
    # ``None`` delivers it in this process (no queue wired).
    outbox_kick: Callable[[int], object] | None = None
    # Hands a reconciliation run (row id) to the job queue; ``None`` reads it in a thread of
    # this process.
    run_kick: Callable[[int], object] | None = None
    # Asks the job queue to apply the pending webhook events (deferred apply); ``None``: no
    # queue, events are applied before the acknowledgement whatever the setting.
    event_kick: Callable[[], object] | None = None

    @classmethod
    def create(cls, config: AppConfig, *, plugins: Plugins | None = None,
               engine: Engine | None = None, clock: Callable[[], dt.datetime] = utcnow) -> Loket:
        """Wire a container from a configuration (tests pass their own engine/plugins)."""
        secrets = SecretBox(config.secret_keys)  # fails fast on a malformed key
        if config.database_url.startswith("sqlite:///") and engine is None:
            path = config.database_url[len("sqlite:///"):]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = engine or make_engine(config.database_url,
                                       pool_timeout=config.db_pool_timeout,
                                       statement_timeout_ms=config.db_statement_timeout_ms)
        return cls(config=config, engine=engine, sessions=make_session_factory(engine),
                   plugins=plugins or Plugins(blocked=config.disabled_plugins),
                   secrets=secrets, clock=clock)

    def check_stored_money(self) -> None:
        """Refuse to start over amounts stored with other currency decimals.

        Called by the entry points that serve or process payments before their first request.

        :raises ConfigurationError: naming each tenant and currency in disagreement.
        """
        with self.transaction() as session:
            check_digits(session)

    def transaction(self) -> AbstractContextManager[Session]:
        """Open the one kind of transaction loket uses (see :func:`loket.core.db.transaction`)."""
        return transaction(self.sessions)

    def statements(self) -> AbstractContextManager[Session]:
        """Open a session whose statements commit one by one (see
        :func:`loket.core.db.statements`): for a single write that must be durable before
        the work that follows."""
        return statements(self.sessions)

    @property
    def signer(self) -> TokenSigner:
        """The signer of consumer tokens and signed URLs: the newest ``LOKET_SECRET_KEY``
        signs, every configured key verifies (a rotation keeps what was signed before).
        Made once per set of keys: a settlement report signs a receipt link a line."""
        keys = self.config.secret_keys
        made = self.cache.get("signer")
        if made is None or made[0] != keys:
            made = self.cache["signer"] = (keys, TokenSigner.for_keys(keys))
        return made[1]

    def now(self) -> dt.datetime:
        """The current time from the container's clock."""
        return self.clock()
