"""Indexes that serve reads across tables: the back office's sums and lists, and
PostgreSQL's trigram indexes for partial search."""

from __future__ import annotations

from sqlalchemy import DDL, Index, event

from loket.core.models.base import Base
from loket.core.models.host import Receivable
from loket.core.models.payments import Payment

# What the KPIs and trends read: money taken by payment time, amounts falling due by date;
# the payments list's default order.
Index("ix_payments_tenant_paid", Payment.tenant_id, Payment.paid_at,
      # PostgreSQL: what the collected sums read, so they are index-only scans.
      postgresql_include=["status", "is_test", "channel", "method", "payment_type",
                          "amount_received", "change_given", "refunded"])
Index("ix_receivables_tenant_due", Receivable.tenant_id, Receivable.due_date)
Index("ix_payments_tenant_created", Payment.tenant_id, Payment.created_at)
# The dashboard's counts by status: an index-only scan instead of reading every payment.
Index("ix_payments_tenant_test_status", Payment.tenant_id, Payment.is_test, Payment.status)

PAYMENT_NUMBERS = ("number || chr(31) || coalesce(transaction_number, '') || chr(31) || "
                   "coalesce(receipt_number, '')")
"""A payment's three numbers in one string (unit separators between them, a character no
search contains): one trigram index serves a fragment of any of them (PostgreSQL)."""

TRIGRAM_INDEXES = (
    ("ix_payments_numbers_trgm", "payments", PAYMENT_NUMBERS),
    ("ix_consumers_name_trgm", "consumers", "name"),
    ("ix_consumers_account_number_trgm", "consumers", "account_number"),
)
"""PostgreSQL's GIN trigram indexes for partial, case-insensitive search
(``lower(expression) LIKE '%fragment%'``): ``(name, table, expression)``, created with the
tables on PostgreSQL (and by migrations 0022 and 0026), not declared as indexes (SQLite has
no trigram operator class); the schema comparison leaves them out
(:func:`loket.core.migrate.pending_differences`)."""

for _name, _table, _expression in TRIGRAM_INDEXES:
    event.listen(Base.metadata.tables[_table], "after_create", DDL(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))
    event.listen(Base.metadata.tables[_table], "after_create", DDL(
        f"CREATE INDEX IF NOT EXISTS {_name} ON {_table} "
        f"USING gin (lower({_expression}) gin_trgm_ops)").execute_if(dialect="postgresql"))


SQLITE_SEARCH = (
    ("payment_numbers_fts", "payments",
     "{row}.number || char(31) || coalesce({row}.transaction_number, '') || char(31) || "
     "coalesce({row}.receipt_number, '')", ("number", "transaction_number", "receipt_number")),
    ("consumer_names_fts", "consumers", "{row}.name || char(31) || {row}.account_number",
     ("name", "account_number")),
)
"""SQLite's equivalent of the trigram indexes: an FTS5 table per searched table
``(fts table, table, expression of the row {row}, columns it reads)`` holding the
lowercased expression under the row's id, kept by triggers, queried with ``GLOB`` (trigram
tokenizer, SQLite 3.34 or later). Created with the tables on SQLite and by migration
0027."""


def sqlite_search_ddl(fts: str, table: str, expression: str, columns: tuple[str, ...]
                      ) -> list[str]:
    """The statements that create one of :data:`SQLITE_SEARCH` and its triggers."""
    def put(row: str) -> str:
        return (f"INSERT INTO {fts} (rowid, text) "
                f"VALUES ({row}.id, lower({expression.format(row=row)}));")
    drop = f"DELETE FROM {fts} WHERE rowid = old.id;"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(text, "
        "tokenize='trigram case_sensitive 1')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {table} "
        f"BEGIN {put('new')} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF {', '.join(columns)} "
        f"ON {table} BEGIN {drop} {put('new')} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {table} BEGIN {drop} END",
    ]


for _fts, _table, _expression, _columns in SQLITE_SEARCH:
    for _ddl in sqlite_search_ddl(_fts, _table, _expression, _columns):
        event.listen(Base.metadata.tables[_table], "after_create",
                     DDL(_ddl).execute_if(dialect="sqlite"))
