"""Helpers of the operations tests: free ports, processes of a deployment (gunicorn with
the shipped config, ``loket worker``), JSON log lines, Prometheus text, and the money
invariants checked over a whole database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from loket.core.models import (
    Allocation,
    CreditNote,
    CreditNoteApplication,
    GatewayEventRow,
    Payment,
    Receivable,
)

MONEY_TAKEN = ("succeeded", "completed", "posted", "refunded", "partially_refunded")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn(env: dict, port: int, log: Path, workers: int = 2) -> subprocess.Popen:
    """Start gunicorn with loket's shipped configuration on ``port``; stderr to ``log``."""
    env = dict(env, LOKET_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers))
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c",
                             "python:loket.server.gunicorn_conf"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def worker(env: dict, log: Path, *extra: str) -> subprocess.Popen:
    """Start ``loket worker`` (stderr to ``log``)."""
    return subprocess.Popen([sys.executable, "-m", "loket.cli", "worker", "--workers", "2",
                             *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("wb"))


def stop(processes: list[subprocess.Popen]) -> None:
    """Stop processes gracefully (SIGTERM), then kill what is left."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_for(predicate: Callable[[], bool], seconds: float, what: str,
             log: Path | None = None) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` (and the end of ``log``) after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what} ({last})\n{tail}")


def json_lines(path: Path) -> list[dict]:
    """The JSON log lines of a file (other lines, e.g. a traceback's, are skipped)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Prometheus text as {(sample name, sorted label items): value}."""
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def check_money(session) -> dict[str, int]:
    """Assert the money invariants over every payment and receivable; returns counts.

    Each payment that took money and was applied: posted allocations + automatic credit
    notes + change + passed-on fee + refunds = amount received; a payment that did not take
    money has no posted allocation; a receivable is never paid beyond its amount and its
    paid amount is what was allocated to it plus credit applied.
    """
    counts = {"payments": 0, "applied": 0}
    for payment in session.scalars(select(Payment).where(Payment.is_test.is_(False))):
        counts["payments"] += 1
        allocated = session.scalar(select(func.coalesce(func.sum(
            Allocation.amount - Allocation.reversed), 0)).where(
            Allocation.payment_id == payment.id, Allocation.state == "posted"))
        if payment.status not in MONEY_TAKEN:
            assert allocated == 0, (payment.number, payment.status, allocated)
            continue
        assert payment.application_state == "applied", (payment.number,
                                                         payment.application_state)
        counts["applied"] += 1
        credit = session.scalar(select(func.coalesce(func.sum(
            CreditNote.amount - CreditNote.reversed), 0)).where(
            CreditNote.payment_id == payment.id, CreditNote.automatic.is_(True)))
        fee = payment.fee if payment.fee_passed_on else 0
        assert allocated + credit + payment.change_given + fee + payment.refunded == \
            payment.amount_received, payment.number
    for receivable in session.scalars(select(Receivable)):
        allocated = session.scalar(select(func.coalesce(func.sum(
            Allocation.amount - Allocation.reversed), 0)).where(
            Allocation.receivable_id == receivable.id, Allocation.state == "posted"))
        credited = session.scalar(select(func.coalesce(func.sum(
            CreditNoteApplication.amount), 0)).where(
            CreditNoteApplication.receivable_id == receivable.id))
        assert 0 <= receivable.paid <= receivable.amount, receivable.reference
        assert receivable.paid == allocated + credited, receivable.reference
    return counts


def event_statuses(session) -> dict[str, int]:
    """Stored gateway events by status."""
    return dict(session.execute(select(GatewayEventRow.status, func.count()).group_by(
        GatewayEventRow.status)).all())


def python_env(**extra: str) -> dict:
    """The test's environment with only ``extra`` as loket settings (no stray LOKET_*)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LOKET_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(extra)
    return env
