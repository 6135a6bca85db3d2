"""The ``loket`` command run in-process against a throw-away SQLite database in the test's
directory (tests/test_cli*.py)."""

from __future__ import annotations

import pytest

from loket.cli import main


def cli_database(tmp_path, monkeypatch) -> None:
    """Point the ``loket`` command at a fresh SQLite database and var directory (the
    development key created there), migrated."""
    monkeypatch.setenv("LOKET_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOKET_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("LOKET_SECRET_KEY", raising=False)
    assert main(["db", "upgrade"]) == 0


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A migrated database with the tenant ``water`` (USD); returns the test's directory."""
    cli_database(tmp_path, monkeypatch)
    assert main(["tenant", "create", "water", "--name", "Water Co", "--currency", "USD"]) == 0
    return tmp_path
