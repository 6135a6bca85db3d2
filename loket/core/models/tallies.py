"""Running tallies of payments for the dashboard: how many payments stand in each status, and
the money collected per local day, kept by PostgreSQL itself.

Statement triggers on ``payments`` (PostgreSQL only) append signed rows to
:class:`PaymentTallyChange` for the payments whose tallied facts an INSERT, UPDATE, DELETE or
COPY changed (minus the old facts, plus the new ones), one row per distinct tally a statement
touched: every write path is counted, the ORM's, bulk ``UPDATE … FROM`` and ``COPY`` alike,
and writers never wait on one another (appends only).
:func:`loket.core.backoffice.tallies.fold` folds the changes into
:class:`PaymentStatusTally` and :class:`PaymentDayTally` every minute; a reader adds what is
not folded yet, in the same statement. On SQLite the tables exist but stay empty: the
dashboard reads the payments themselves there.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import DDL, BigInteger, Boolean, Date, ForeignKey, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from loket.core.models.base import Base


class PaymentTallyChange(Base):
    """One signed change of the tallies: a payment's facts leaving (``payments`` -1) or
    joining (+1) a tally, with its net (received - change - refunded)."""

    __tablename__ = "payment_tally_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    is_test: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(30))
    paid_on: Mapped[Optional[dt.date]] = mapped_column(Date)  # local date of paid_at
    channel: Mapped[str] = mapped_column(String(30))
    method: Mapped[str] = mapped_column(String(30))
    payment_type: Mapped[str] = mapped_column(String(30))
    payments: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)


class PaymentStatusTally(Base):
    """How many payments of a tenant stand in a status (folded changes)."""

    __tablename__ = "payment_status_tallies"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    is_test: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    status: Mapped[str] = mapped_column(String(30), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger)


class PaymentDayTally(Base):
    """The money collected on a local day (non-test payments whose money was taken), by
    channel, method and type (folded changes)."""

    __tablename__ = "payment_day_tallies"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    paid_on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    method: Mapped[str] = mapped_column(String(30), primary_key=True)
    payment_type: Mapped[str] = mapped_column(String(30), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)


TENANT_ZONES = ("(SELECT tenant_id, document ->> 'timezone' AS zone FROM tenant_settings "
                "OFFSET 0)")
"""SQL: each tenant's time zone, read out of its settings document once per tenant (the
fence keeps the planner from carrying each tenant's whole document along every payment
row and reading the zone out of it row by row), for :data:`QUEUE_PAYMENTS`."""

LOCAL_PAID_ON = "({rows}.paid_at AT TIME ZONE {zone})::date"
"""SQL for the local date a payment (alias ``{rows}``) was paid in the time zone ``{zone}``
(an SQL expression)."""

_FACTS = "tenant_id, is_test, status, paid_on, channel, method, payment_type, payments, net"

_ONE_ZONE = "coalesce(tenant_zone, 'UTC')"
"""The statement's one tenant's time zone (the trigger function's variable; UTC without
settings)."""

_ROW_ZONE = ("coalesce((SELECT z.document ->> 'timezone' FROM tenant_settings z "
             "WHERE z.tenant_id = r.tenant_id), 'UTC')")
"""Each row's tenant's time zone, looked up by key row by row (a statement across tenants:
linear whatever the plan cached for the function guesses of the rows)."""


def _signed(rows: str, sign: str, zone: str) -> str:
    """The tally facts of the transition table ``rows``, counted with ``sign``, the local
    date taken in ``zone`` (:data:`_ONE_ZONE` or :data:`_ROW_ZONE`)."""
    return (f"SELECT r.tenant_id, r.is_test, r.status, "
            f"{LOCAL_PAID_ON.format(rows='r', zone=zone)} AS paid_on, "
            f"r.channel, r.method, r.payment_type, {sign}1 AS payments, "
            f"{sign}(r.amount_received - r.change_given - r.refunded) AS net "
            f"FROM {rows} r")


def _appended(zone: str, *signed: tuple[str, str]) -> str:
    """The INSERT that appends one row per distinct tally of the transition tables
    ``signed`` ``(table, sign)``: a statement that changes thousands of payments alike
    appends a few rows; a payment whose tallied facts an UPDATE left alone leaves and
    joins the same tally, and groups whose changes cancel out append nothing. No join
    between the transition tables, whose sizes the function's cached plans do not know."""
    facts = " UNION ALL ".join(_signed(rows, sign, zone) for rows, sign in signed)
    return (f"INSERT INTO payment_tally_changes ({_FACTS}) "
            f"SELECT tenant_id, is_test, status, paid_on, channel, method, payment_type, "
            f"sum(payments), sum(net) FROM ({facts}) AS facts "
            f"GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(payments) <> 0 OR sum(net) <> 0;")


def _by_operation(zone: str) -> str:
    """The function's statements for each kind of trigger, with ``zone``."""
    return f"""IF TG_OP = 'INSERT' THEN
      {_appended(zone, ("new_rows", "+"))}
    ELSIF TG_OP = 'DELETE' THEN
      {_appended(zone, ("old_rows", "-"))}
    ELSE
      {_appended(zone, ("old_rows", "-"), ("new_rows", "+"))}
    END IF;"""


TALLY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION loket_tally_payments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  low integer;
  high integer;
  tenant_zone text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT min(tenant_id), max(tenant_id) INTO low, high FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT min(tenant_id), max(tenant_id) INTO low, high FROM old_rows;
  ELSE
    SELECT min(tenant_id), max(tenant_id) INTO low, high FROM (
      SELECT tenant_id FROM old_rows UNION ALL SELECT tenant_id FROM new_rows) AS t;
  END IF;
  IF low IS NULL THEN
    RETURN NULL;
  ELSIF low = high THEN
    SELECT document ->> 'timezone' INTO tenant_zone FROM tenant_settings
      WHERE tenant_id = low;
    {_by_operation(_ONE_ZONE)}
  ELSE
    {_by_operation(_ROW_ZONE)}
  END IF;
  RETURN NULL;
END $$
"""
"""The PostgreSQL function the statement triggers on ``payments`` call (see the module): a
statement's payments almost always belong to one tenant, whose zone is read once; a
statement across tenants looks each row's up."""

_QUEUED_ZONE = "coalesce(s.zone, 'UTC')"  # TENANT_ZONES joined as s

QUEUE_PAYMENTS = (
    f"INSERT INTO payment_tally_changes ({_FACTS}) "
    f"SELECT p.tenant_id, p.is_test, p.status, "
    f"{LOCAL_PAID_ON.format(rows='p', zone=_QUEUED_ZONE)}, p.channel, "
    "p.method, p.payment_type, count(*), sum(p.amount_received - p.change_given - p.refunded) "
    f"FROM payments p LEFT JOIN {TENANT_ZONES} s ON s.tenant_id = p.tenant_id "
    "{where} GROUP BY 1, 2, 3, 4, 5, 6, 7")
"""SQL that queues payments as pending changes, grouped (``{where}``: which payments, e.g.
``WHERE p.tenant_id = :tenant``): how the tallies are first counted and counted again."""

TALLY_TRIGGERS = (
    "CREATE TRIGGER payments_tally_insert AFTER INSERT ON payments "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION loket_tally_payments()",
    "CREATE TRIGGER payments_tally_update AFTER UPDATE ON payments "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION loket_tally_payments()",
    "CREATE TRIGGER payments_tally_delete AFTER DELETE ON payments "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION loket_tally_payments()",
)
"""The statement triggers that keep the tallies (PostgreSQL; created by migration 0025 and
with the tables)."""

QUEUE_VACUUM = ("ALTER TABLE payment_tally_changes SET (autovacuum_vacuum_scale_factor = 0, "
                "autovacuum_vacuum_threshold = 10000, autovacuum_analyze_scale_factor = 0, "
                "autovacuum_analyze_threshold = 10000)")
"""Every fold empties the changes table: vacuum it after every 10,000 folded rows rather
than after a fifth of its largest size, so readers never scan a bulk load's dead rows."""

for _ddl in (TALLY_FUNCTION, *TALLY_TRIGGERS, QUEUE_VACUUM):
    event.listen(Base.metadata, "after_create", DDL(_ddl).execute_if(dialect="postgresql"))
