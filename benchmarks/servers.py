"""What a benchmark run starts: throw-away PostgreSQL databases, loket under
``gunicorn -w 2``, and the bare baselines under the same gunicorn settings; plus the
server-side meters (CPU time of a server's workers, transactions of a database).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get("LOKET_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STATS_DELAY = 11.0
"""Seconds until an idle backend's transaction counts reach ``pg_stat_database``
(PostgreSQL flushes them after at most 10 s idle)."""


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Database:
    """A throw-away PostgreSQL database (dropped by :meth:`drop`)."""

    def __init__(self, prefix: str):
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = PG_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"
        self.engine = create_engine(self.url, isolation_level="AUTOCOMMIT")

    def transactions(self) -> int:
        """Committed plus rolled-back transactions so far (PostgreSQL's statistics, which
        backends flush about once a second: read after a pause)."""
        with self.admin.connect() as connection:
            return int(connection.execute(text(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :n"),
                {"n": self.name}).scalar_one())

    def drop(self) -> None:
        """Drop the database (closing its connections)."""
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _stop(process: subprocess.Popen, log) -> None:
    """TERM, 15 seconds' grace, then KILL; close the process's log."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


class Server:
    """A WSGI app under ``gunicorn -w WORKERS`` (sync workers, as loket ships)."""

    def __init__(self, name: str, app: str, env: dict, workdir: Path, workers: int = 2,
                 config: str | None = None):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop
        command = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
                   "--timeout", "60", "--backlog", "2048"]
        if config:
            command += ["-c", config]
        command.append(app)
        self.process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, path: str = "/health", timeout: float = 120) -> None:
        """Block until ``path`` answers (any status below 500)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see its log")
            try:
                if requests.get(self.url + path, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start on {self.url}")

    def cpu_ns(self) -> int:
        """CPU time (user + system) spent so far by the server's worker processes."""
        ticks = sum(_cpu_ticks(pid) for pid in _children(self.process.pid))
        return ticks * 1_000_000_000 // CLOCK_TICKS

    def stop(self) -> None:
        """Stop gunicorn (graceful, then killed)."""
        _stop(self.process, self.log)


class Worker:
    """``loket worker`` (the job queue's consumer) in a process of its own."""

    def __init__(self, env: dict, workdir: Path, threads: int = 2):
        self.log_path = workdir / "worker.log"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            [str(BIN / "loket"), "worker", "--workers", str(threads), "--no-periodic"],
            # INFO: wait_ready reads the consumer's start line.
            env={**os.environ, **env, "LOKET_LOG_LEVEL": "INFO"}, cwd=ROOT, stdout=self.log,
            stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        """Block until the worker has started consuming (its start-up sweep done): a
        worker runs all the time, so its start-up is no part of what a run measures."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the worker exited: see worker.log")
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                if b"Huey consumer started" in log.read():
                    return
            time.sleep(0.05)
        raise RuntimeError("the worker did not start")

    def cpu_ns(self) -> int:
        """CPU time spent so far by the worker process (all its threads)."""
        return _cpu_ticks(self.process.pid) * 1_000_000_000 // CLOCK_TICKS

    def stop(self) -> None:
        """Stop the worker (TERM, then killed)."""
        _stop(self.process, self.log)


class Together:
    """Several processes measured as one server (the API and its worker)."""

    def __init__(self, *parts):
        self.parts = parts

    def cpu_ns(self) -> int:
        """CPU time spent so far by every part."""
        return sum(part.cpu_ns() for part in self.parts)


class Meter:
    """Server CPU and database transactions across one measured run."""

    def __init__(self, server: Server | Together | None, database: Database | None):
        self.server, self.database = server, database
        self.cpu = self.tx = 0

    def __enter__(self) -> Meter:
        if self.database:
            time.sleep(STATS_DELAY)  # what came before reaches pg_stat_database
            self.tx = self.database.transactions()
        self.cpu = self.server.cpu_ns() if self.server else 0
        return self

    def __exit__(self, *exc) -> None:
        self.cpu = (self.server.cpu_ns() - self.cpu) if self.server else 0
        if self.database:
            time.sleep(STATS_DELAY)
            self.tx = self.database.transactions() - self.tx - 1  # less the reading itself
