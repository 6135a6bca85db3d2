"""The shared environment of a benchmark run (:class:`Bench`): loket on PostgreSQL under
``gunicorn -w 2`` with the Stripe emulator and the sandbox connected, and the bare
baselines, each started on first use and stopped at the end of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import baselines
from benchmarks.servers import BIN, Database, Server


@dataclass
class LoketSide:
    """loket as the benchmark drives it: its database, server, in-process container (for
    seeding and checks), the Stripe emulator and the bench tenant."""

    database: Database
    server: Server
    ctx: object
    emulator: object
    tenant_id: int
    env: dict


class Bench:
    """What workloads share: ``quick`` (the short size), a work directory, and the servers
    (started on first use)."""

    def __init__(self, quick: bool, rounds: int, workdir: Path | None = None):
        self.quick = quick
        self.rounds = rounds
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="loket-bench-"))
        self._loket: LoketSide | None = None
        self._servers: dict[str, tuple[Server, Database | None]] = {}
        self._cleanups: list = []

    # -- loket -------------------------------------------------------------------------

    def loket(self) -> LoketSide:
        """loket on a fresh PostgreSQL database (migrated), with a tenant ``bench`` whose
        Stripe (emulated) and sandbox gateways are connected."""
        if self._loket is None:
            self._loket = self._start_loket()
        return self._loket

    def _start_loket(self) -> LoketSide:
        from loket.core import audit, tenants  # noqa: PLC0415
        from loket.core.config import AppConfig  # noqa: PLC0415
        from loket.core.context import Loket  # noqa: PLC0415
        from loket.core.gateway_configs import configs  # noqa: PLC0415
        from loket.core.secrets import SecretBox  # noqa: PLC0415
        from loket.demo import SANDBOX_CREDENTIALS  # noqa: PLC0415
        from loket_stripe.testing.emulator import StripeEmulator  # noqa: PLC0415

        emulator = StripeEmulator().start()
        self._cleanups.append(emulator.stop)
        database = Database("loket_bench")
        self._cleanups.append(database.drop)
        var = self.workdir / "loket-var"
        var.mkdir(exist_ok=True)
        env = {"LOKET_DATABASE_URL": database.url, "LOKET_SECRET_KEY": SecretBox.generate_key(),
               "LOKET_VAR_DIR": str(var), "LOKET_QUEUE": "postgres",
               "LOKET_QUEUE_NAME": f"bench{database.name[-8:]}",
               "LOKET_PUBLIC_RATE_LIMIT": "0", "LOKET_WEBHOOK_RATE_LIMIT": "0",
               "LOKET_SMTP_PORT": "1", "LOKET_THREADS": "8", "LOKET_MAX_IN_FLIGHT": "2",
               "LOKET_ADMISSION_QUEUE": "4", "LOKET_ADMISSION_WAIT_MS": "100",
               "LOKET_GATEWAY_OPTIONS": json.dumps({"stripe": {
                   "api_base": emulator.url, "max_network_retries": 0}})}
        full_env = {**os.environ, **env}
        full_env.pop("LOKET_REDIS_URL", None)
        subprocess.run([str(BIN / "loket"), "db", "upgrade"], env=full_env, check=True,
                       stdout=subprocess.DEVNULL)
        ctx = Loket.create(AppConfig.from_env(full_env))
        actor = audit.Actor("bench", "system")
        with ctx.transaction() as session:
            tenant_id = tenants.create_tenant(session, actor, "bench", "Bench Water",
                                              {"currency": "USD"}).id
            for kind, credentials in (("sandbox", SANDBOX_CREDENTIALS),
                                      ("stripe", emulator.credentials())):
                configs.set_active(ctx, session, actor, tenant_id, kind, True)
                configs.save_credentials(ctx, session, actor, tenant_id, kind,
                                         credentials).connected = True
        server = Server("loket", "loket.server.app:get_app()", {
            **env, "LOKET_BASE_URL": "http://127.0.0.1"}, self.workdir,
            config="python:loket.server.gunicorn_conf")
        self._cleanups.append(server.stop)
        server.wait_ready()
        return LoketSide(database, server, ctx, emulator, tenant_id, full_env)

    def on_close(self, cleanup) -> None:
        """Call ``cleanup`` when the run ends (newest first)."""
        self._cleanups.append(cleanup)

    def database(self, prefix: str) -> Database:
        """A throw-away PostgreSQL database of a workload's own, dropped at the end."""
        database = Database(prefix)
        self._cleanups.append(database.drop)
        return database

    # -- baselines ---------------------------------------------------------------------

    def baseline(self, name: str) -> tuple[Server, Database | None]:
        """A bare baseline server: ``"bare"`` (constant answer) or ``"verify-insert"``
        (Stripe signature check and one INSERT, on a database of its own)."""
        if name not in self._servers:
            database = None
            env: dict = {}
            if name == "verify-insert":
                database = Database("loket_bench_bare")
                self._cleanups.append(database.drop)
                baselines.create_table(database.url)
                from loket_stripe.testing.emulator import (  # noqa: PLC0415
                    TEST_WEBHOOK_SECRET,
                )
                env = {"BENCH_DATABASE_URL": database.url,
                       "BENCH_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET}
                app = "benchmarks.baselines:verify_insert_app()"
            else:
                app = "benchmarks.baselines:bare_app()"
            server = Server(f"baseline-{name}", app, env, self.workdir)
            self._cleanups.append(server.stop)
            server.wait_ready()
            self._servers[name] = (server, database)
        return self._servers[name]

    def close(self) -> None:
        """Stop every server and drop every database (newest first)."""
        for cleanup in reversed(self._cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - the others still get cleaned up
                print(f"cleanup {cleanup!r} failed: {exc}")
