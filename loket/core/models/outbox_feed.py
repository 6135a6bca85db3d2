"""The order in which host events became visible, for hosts that poll the feed
(``GET /v1/host/events``).

Event ids are taken when a row is inserted, not when its transaction commits: a settlement
block or a webhook batch may write event 100 and commit after a request that wrote event
101 committed, and a poller that had moved its cursor past 101 would never see 100. On
PostgreSQL each event therefore records its writing transaction (``feed_xid``), and when a
transaction that wrote host events commits, a deferred trigger gives it a position in
:class:`OutboxFeedCommit` (one per tenant it wrote for) while holding the tenant's lock
until the commit is visible: a tenant's positions are handed out in the order its
transactions become visible. One tenant's commits that write host events therefore wait
for each other's disk write (at most one such commit per flush of the write-ahead log,
or per round trip to a synchronous standby); other tenants' commit alongside.
The feed serves events by (position, id). SQLite has one writer at a time, so ids are
already in commit order there; its events have no ``feed_xid`` and are served by id, as
are PostgreSQL's events written before the positions existed.
"""

from __future__ import annotations

from sqlalchemy import DDL, BigInteger, ForeignKey, Index, Integer, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from loket.core.models.base import Base


class OutboxFeedCommit(Base):
    """A committed transaction that wrote host events for a tenant, in commit order."""

    __tablename__ = "outbox_feed_commits"
    __table_args__ = (UniqueConstraint("xid", "tenant_id"),
                      Index("ix_outbox_feed_commits_tenant_position", "tenant_id", "position"))
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                          primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    xid: Mapped[int] = mapped_column(BigInteger)


FEED_XID_DEFAULT = ("ALTER TABLE outbox_events ALTER COLUMN feed_xid "
                    "SET DEFAULT (pg_current_xact_id()::text)::bigint")
"""Each event row records its (top-level) transaction on PostgreSQL, however it is written:
the ORM, ``COPY`` or SQL."""

FEED_LOCK = 74012026
"""With the tenant's id, the advisory lock a commit that wrote host events for that tenant
holds from taking its position until it is visible: one tenant's such commits follow one
another (their feed's order), other tenants' commit alongside."""

FEED_FUNCTION = f"""
CREATE OR REPLACE FUNCTION loket_outbox_feed_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('loket.feed_' || NEW.tenant_id, true) IS DISTINCT FROM '1' THEN
    PERFORM set_config('loket.feed_' || NEW.tenant_id, '1', true);
    PERFORM pg_advisory_xact_lock({FEED_LOCK}, NEW.tenant_id);
    INSERT INTO outbox_feed_commits (tenant_id, xid)
      VALUES (NEW.tenant_id, (pg_current_xact_id()::text)::bigint);
  END IF;
  RETURN NULL;
END $$
"""
"""Run at commit for each host event the transaction wrote; the first one of each tenant
takes that tenant's lock (held until the commit is visible) and the next position. Two
transactions that each wrote for several tenants may take their locks in opposite orders:
PostgreSQL then rolls one back as a deadlock (a sweep that runs again later)."""

FEED_TRIGGER = ("CREATE CONSTRAINT TRIGGER outbox_feed_commit AFTER INSERT ON outbox_events "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "WHEN (NEW.kind = 'host_event') EXECUTE FUNCTION loket_outbox_feed_commit()")

for _ddl in (FEED_XID_DEFAULT, FEED_FUNCTION, FEED_TRIGGER):
    event.listen(Base.metadata, "after_create", DDL(_ddl).execute_if(dialect="postgresql"))
