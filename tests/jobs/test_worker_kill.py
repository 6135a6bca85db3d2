"""Killing a worker in the middle of processing loses no event: a real ``loket worker``
process is SIGKILLed while it applies an event, and the next worker applies it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from support.jobs import (  # noqa: F401 - fixtures
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    redis_or_skip,
    smtp,
    start_checkout,
    unique_queue,
)

from loket.core.config import AppConfig
from loket.jobs import make_huey, register

WORKER = textwrap.dedent("""
    import os, pathlib, time
    from loket import hookimpl
    from loket.core.config import AppConfig
    from loket.core.context import Loket
    from loket.jobs import setup
    from loket.jobs.worker import run_worker
    from loket.plugins import Plugins

    class Stall:
        '''Holds event processing open (inside the transaction) while BLOCK exists.'''
        LOKET_CONTRACT = "1"

        @hookimpl(tryfirst=True)
        def loket_gateway_map_status(self, config, raw_status):
            block = pathlib.Path(os.environ["BLOCK"])
            if block.exists():
                pathlib.Path(os.environ["STARTED"]).touch()
                while block.exists():
                    time.sleep(0.05)
            return None

    ctx = Loket.create(AppConfig.from_env(), plugins=Plugins(extra=(Stall(),)))
    run_worker(ctx, setup(ctx, os.environ["QUEUE_NAME"]), workers=1, periodic=False)
""")


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_event_in_flight_when_worker_is_killed_is_applied_after_restart(
        queue, jctx, jtenant, tmp_path):
    env = dict(os.environ, LOKET_DATABASE_URL=jctx.config.database_url,
               LOKET_SECRET_KEY=",".join(jctx.config.secret_keys),
               LOKET_VAR_DIR=str(jctx.config.var_dir), LOKET_BASE_URL=jctx.config.base_url,
               LOKET_QUEUE=queue, QUEUE_NAME=unique_queue(),
               BLOCK=str(tmp_path / "block"), STARTED=str(tmp_path / "started"),
               LOKET_SMTP_PORT="1")
    env.pop("LOKET_REDIS_URL", None)
    if queue == "redis":
        env["LOKET_REDIS_URL"] = redis_or_skip()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    config = AppConfig.from_env(env)
    jobs = register(make_huey(config, env["QUEUE_NAME"]), jctx)
    first = second = None
    try:
        paying = start_checkout(jctx, jtenant)
        assert deliver(jctx, payer_acts(jctx, jtenant, paying), process=False).status == 200
        (event,) = events(jctx)
        (tmp_path / "block").touch()
        first = subprocess.Popen([sys.executable, str(script)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # the first worker's start-up sweep picks the event up and stalls inside it
        _wait((tmp_path / "started").exists, 30, "the first worker to start processing")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert events(jctx)[0].status == "pending"
        assert payment(jctx, paying.number).status == "initiated"

        (tmp_path / "block").unlink()
        jobs.process_event(event.id)  # also queued: whoever comes first applies it once
        second = subprocess.Popen([sys.executable, str(script)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait(lambda: events(jctx)[0].status == "processed", 30,
              "the restarted worker to apply the event")
        assert payment(jctx, paying.number).status == "succeeded"
        _wait(lambda: jobs.huey.pending_count() == 0, 10, "the queue to drain")
        assert events(jctx)[0].attempts == 1
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        jobs.huey.flush()
