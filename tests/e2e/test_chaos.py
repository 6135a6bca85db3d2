"""A small chaos run inside the suite (PostgreSQL only): 200 payments through the sandbox and
the Stripe emulator, every event delivered 3 times from 16 threads, while the API and
worker processes are killed with SIGKILL and restarted. ``make chaos`` runs 10,000."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO
from support.db import BACKEND, pg_available

ROOT = REPO


@pytest.mark.skipif(BACKEND != "postgresql", reason="the chaos run is part of the "
                    "PostgreSQL run of the suite")
def test_two_hundred_payments_survive_sigkills(tmp_path):
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 — chaos run SKIPPED")
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "chaos.py"), "--payments", "200",
         "--kill-every", "4", "--workdir", str(tmp_path / "chaos")],
        capture_output=True, text=True, timeout=1200)
    print(run.stdout[-3000:], run.stderr[-3000:])
    assert "VERDICT: SOUND" in run.stdout and run.returncode == 0
    assert "killed: 0 API, 0 worker" not in run.stdout  # it did kill processes
