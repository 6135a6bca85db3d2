"""Per-tenant document numbers: ``PAY-{yyyy}-{seq:06}``, ``R-{seq}``…, gapless and unique.

The counter row is incremented with ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` inside the
caller's transaction: concurrent writers queue on the row lock, and a rolled-back
transaction gives its number back, so committed numbers have no duplicates and no gaps.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from sqlalchemy import BigInteger, String, TextualSelect, text
from sqlalchemy.orm import Session

from loket.errors import ValidationFailed

_PLACEHOLDER = re.compile(r"\{(yyyy|yy|mm|seq)(?::(0\d+))?\}")


def render(fmt: str, seq: int, when: dt.date) -> str:
    """Render a number format: ``{yyyy}``, ``{yy}``, ``{mm}``, ``{seq}``, ``{seq:06}``."""
    def sub(match: re.Match) -> str:
        name, width = match.group(1), match.group(2)
        if name == "seq":
            return format(seq, width) if width else str(seq)
        return {"yyyy": f"{when.year:04d}", "yy": f"{when.year % 100:02d}",
                "mm": f"{when.month:02d}"}[name]
    if "{seq" not in fmt:
        raise ValidationFailed(f"number format {fmt!r} has no {{seq}}", field="number_formats")
    return _PLACEHOLDER.sub(sub, fmt)


def period_of(fmt: str, when: dt.date) -> str:
    """The counter period: the sequence restarts each year when the format shows the year."""
    if "{yyyy}" in fmt or "{yy}" in fmt:
        return f"{when.year:04d}" + (f"{when.month:02d}" if "{mm}" in fmt else "")
    return ""


def next_number(session: Session, tenant_id: int, name: str, number_format: dict,
                when: dt.date) -> str:
    """Take the next number of sequence ``name`` for a tenant and render it.

    :param number_format: ``{"format": "PAY-{yyyy}-{seq:06}", "start": 1}`` from settings.
    :returns: the rendered number; it is only really taken when the caller commits.
    """
    return next_numbers(session, tenant_id, name, number_format, when, 1)[0]


def next_numbers(session: Session, tenant_id: int, name: str, number_format: dict,
                 when: dt.date, count: int) -> list[str]:
    """Take the next ``count`` numbers of sequence ``name`` in one counter update (a block:
    one row version for the whole block, however many numbers it holds).

    :returns: the rendered numbers, in order; taken only when the caller commits.
    """
    if count <= 0:
        return []
    fmt = number_format["format"]
    start = int(number_format.get("start", 1))
    # One statement: the first number of a period creates the counter, later ones take the
    # row lock and count on.
    last = session.connection().execute(_take_statement(1), {
        "tenant_id_0": tenant_id, "name_0": name, "period_0": period_of(fmt, when),
        "value_0": start - 1 + count, "count": count}).one().value
    return [render(fmt, seq, when) for seq in range(last - count + 1, last + 1)]


def next_of_each(session: Session, tenant_id: int, formats: dict[str, dict],
                 when: dt.date) -> dict[str, str]:
    """Take the next number of several sequences in one statement (a payment's number and
    its transaction number), each counter row updated as :func:`next_number` would.

    :param formats: per sequence name, its number format from settings.
    :returns: per sequence name, the rendered number; taken only when the caller commits.
    """
    values: dict = {"count": 1}
    for i, (name, f) in enumerate(sorted(formats.items())):  # one lock order for all
        values.update({f"tenant_id_{i}": tenant_id, f"name_{i}": name,
                       f"period_{i}": period_of(f["format"], when),
                       f"value_{i}": int(f.get("start", 1))})
    taken = session.connection().execute(
        _take_statement(len(formats)), values).all()
    return {name: render(formats[name]["format"], value, when) for name, value in taken}


@functools.cache
def _take_statement(rows: int) -> TextualSelect:
    """``INSERT … ON CONFLICT DO UPDATE SET value = value + :count RETURNING name, value``
    for ``rows`` counters, the same on PostgreSQL and SQLite.

    Written as text: SQLAlchemy compiles an INSERT of several VALUES rows anew on every
    execution (it is never cached), and that compilation cost more than the statement.
    """
    values = ", ".join(f"(:tenant_id_{i}, :name_{i}, :period_{i}, :value_{i})"
                       for i in range(rows))
    return text(f"INSERT INTO number_sequences (tenant_id, name, period, value) VALUES {values} "
                "ON CONFLICT (tenant_id, name, period) DO UPDATE "
                "SET value = number_sequences.value + :count RETURNING name, value"
                ).columns(name=String, value=BigInteger)
