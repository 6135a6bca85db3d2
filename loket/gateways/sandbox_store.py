"""The sandbox gateway's own records (what a real gateway keeps on its side), in SQLite."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkouts (
    reference TEXT PRIMARY KEY, config_id INTEGER, payment_id TEXT, amount INTEGER,
    currency TEXT, items TEXT, return_url TEXT, cancel_url TEXT, webhook_url TEXT,
    secret TEXT /* the signing key derived from the secret, never the secret */,
    status TEXT, refunded INTEGER, expires_at TEXT, paid_at TEXT,
    settled_at TEXT, payout_reference TEXT, UNIQUE (config_id, payment_id));
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY, reference TEXT, checkout TEXT, amount INTEGER);
"""


def store_path(options: dict) -> Path:
    """Where this deployment's sandbox keeps its records: ``options["state_path"]``, else
    ``sandbox-gateway.sqlite3`` in ``options["var_dir"]``."""
    explicit = options.get("state_path")
    return Path(explicit) if explicit else Path(options.get("var_dir", "var")) / \
        "sandbox-gateway.sqlite3"


def open_store(config) -> sqlite3.Connection:
    """Open (and create) the sandbox's database for a gateway configuration."""
    return open_path(store_path(config.options))


_OPEN: dict[tuple[int, str], sqlite3.Connection] = {}
_OPEN_LOCK = threading.Lock()


def open_path(path: Path) -> sqlite3.Connection:
    """The sandbox database at ``path`` (autocommit, rows as dicts), opened and its schema
    created once per process and file (a charge must not pay for that each time); reopened
    if the file was removed."""
    key = (os.getpid(), str(Path(path).resolve()))
    with _OPEN_LOCK:
        db = _OPEN.get(key)
        if db is not None and Path(key[1]).exists():
            return db
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a test gateway's records: no fsync per write
        db.executescript(SCHEMA)
        _OPEN[key] = db
        return db


def insert_checkout(db, row: dict) -> None:
    """Store a new checkout."""
    columns = ", ".join(row)
    db.execute(f"INSERT OR IGNORE INTO checkouts ({columns}) VALUES "
               f"({', '.join('?' * len(row))})", tuple(row.values()))


def find(db, reference: str):
    """The checkout with ``reference`` or ``None``."""
    return db.execute("SELECT * FROM checkouts WHERE reference = ?", (reference,)).fetchone()


def find_by_payment(db, config_id: int, payment_id: str):
    """The checkout made for loket payment ``payment_id`` or ``None``."""
    return db.execute("SELECT * FROM checkouts WHERE config_id = ? AND payment_id = ?",
                      (config_id, payment_id)).fetchone()


def set_status(db, reference: str, status: str, **fields) -> None:
    """Change a checkout's status (and other columns)."""
    assignments = ", ".join(f"{k} = ?" for k in ("status", *fields))
    db.execute(f"UPDATE checkouts SET {assignments} WHERE reference = ?",
               (status, *fields.values(), reference))


def find_refund(db, refund_id: str):
    """A refund already made under ``refund_id`` or ``None``."""
    return db.execute("SELECT * FROM refunds WHERE refund_id = ?", (refund_id,)).fetchone()


def find_refund_by_reference(db, reference: str):
    """A refund by the sandbox's own reference (``sbx_re_…``) or ``None``."""
    return db.execute("SELECT * FROM refunds WHERE reference = ?", (reference,)).fetchone()


def add_refund(db, refund_id: str, reference: str, checkout: str, amount: int) -> None:
    """Record a refund and add it to the checkout's refunded total."""
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO refunds VALUES (?, ?, ?, ?)", (refund_id, reference, checkout, amount))
    db.execute("UPDATE checkouts SET refunded = refunded + ?, status = CASE WHEN "
               "refunded + ? >= amount THEN 'refunded' ELSE status END WHERE reference = ?",
               (amount, amount, checkout))
    db.execute("COMMIT")


def paid_unsettled(db, config_id: int | None = None) -> list:
    """Paid checkouts that have not been settled yet."""
    query = "SELECT * FROM checkouts WHERE status = 'paid'"
    args: tuple = ()
    if config_id is not None:
        query += " AND config_id = ?"
        args = (config_id,)
    return db.execute(query, args).fetchall()


def settled_between(db, config_id: int, since: str, until: str) -> list:
    """Checkouts settled in ``[since, until)`` (ISO timestamps)."""
    return db.execute("SELECT * FROM checkouts WHERE config_id = ? AND settled_at >= ? AND "
                      "settled_at < ? ORDER BY settled_at", (config_id, since, until)).fetchall()


def forget_checkout(db, reference: str) -> None:
    """Drop an open checkout nobody was shown (its payment's transaction never committed)."""
    db.execute("DELETE FROM checkouts WHERE reference = ? AND status = 'open'", (reference,))
