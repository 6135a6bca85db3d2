"""Pages of the back-office lists and the partial, case-insensitive matching their searches
use."""

from __future__ import annotations

import attrs
from sqlalchemy import ColumnClause, Select, func, literal_column, select, table, text
from sqlalchemy.orm import Session

from loket.core.models import Payment


@attrs.frozen
class Page:
    """One page of a list: the rows, the total matching rows, the page number and size.

    ``exact`` is false when ``total`` is a lower bound (lists that stop counting at
    :data:`COUNT_CAP` rows past the page); ``more`` says whether a next page exists, when
    known from the rows read.
    """

    items: list
    total: int
    page: int
    limit: int
    exact: bool = True
    more: bool | None = None

    @property
    def next_page(self) -> int | None:
        """The next page number, or ``None`` on the last page."""
        more = self.more if self.more is not None else self.page * self.limit < self.total
        return self.page + 1 if more else None


COUNT_CAP = 1000
"""Rows past the current page a capped list counts before it gives up (``total`` is then a
lower bound): counting every match of a search over millions of payments on every page
costs more than the page itself."""


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE, lowercased, with LIKE's own characters escaped (``\\``)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column, text: str):
    """``column`` contains ``text``, case-insensitively (a trigram index serves it on
    PostgreSQL where one exists)."""
    return func.lower(column).like(like_pattern(text), escape="\\")


def _glob(text: str) -> str:
    """``*text*`` for GLOB, lowercased, GLOB's own characters taken literally."""
    return "*" + "".join(f"[{c}]" if c in "*?[" else c for c in text.lower()) + "*"


def searched(fts: str, text: str) -> Select:
    """The ids (``rowid``) of the rows whose SQLite full-text search table ``fts`` (one of
    ``SQLITE_SEARCH``) holds ``text``: served by the table's trigram index."""
    return select(literal_column("rowid")).select_from(table(fts)).where(
        literal_column("text").op("GLOB")(_glob(text)))


def numbers_contain(session: Session, text: str):
    """The payment's number, transaction number or receipt number contains ``text``: one
    condition over the three, as indexed (``PAYMENT_NUMBERS`` on PostgreSQL, the
    ``payment_numbers_fts`` table on SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        return Payment.id.in_(searched("payment_numbers_fts", text))
    separator: ColumnClause[str] = literal_column("chr(31)")
    empty: ColumnClause[str] = literal_column("''")
    numbers = (Payment.number.op("||")(separator)
               .op("||")(func.coalesce(Payment.transaction_number, empty))
               .op("||")(separator).op("||")(func.coalesce(Payment.receipt_number, empty)))
    return contains(numbers, text)


def plan_for_values(session: Session) -> None:
    """Have PostgreSQL plan this transaction's statements for the values at hand. Called
    before a search: a plan made once for any fragment (after a statement has run a few
    times on a connection) walks the list order and filters every row of the tenant
    (200 ms over 200,000 payments) where a trigram index finds the matches in a few."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def paginate(session: Session, query, order, page: int, limit: int,
              count_cap: int | None = None) -> Page:
    """The page of ``query`` in ``order``; with ``count_cap`` the total counts at most that
    many rows past the page (see :class:`Page`)."""
    offset = (page - 1) * limit
    if count_cap is None:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        rows = session.scalars(query.order_by(*order).offset(offset).limit(limit)).all()
        return Page(items=list(rows), total=total or 0, page=page, limit=limit)
    rows = session.scalars(query.order_by(*order).offset(offset).limit(limit + 1)).all()
    if len(rows) <= limit and (rows or offset == 0):
        # The last page, and it is not empty: what precedes it and what it holds is all.
        return Page(items=list(rows), total=offset + len(rows), page=page, limit=limit,
                    exact=True, more=False)
    bound = offset + limit + count_cap
    counted = session.scalar(select(func.count()).select_from(
        query.order_by(None).limit(bound + 1).subquery())) or 0
    return Page(items=list(rows[:limit]), total=min(counted, bound), page=page, limit=limit,
                exact=counted <= bound, more=len(rows) > limit)
