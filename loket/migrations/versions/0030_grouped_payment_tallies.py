"""the payments' tally triggers append one row per distinct tally a statement touched,
instead of one per payment (a settlement block of 2,000 payments: a few rows), read the
time zone once for a statement whose payments belong to one tenant (by key per row
otherwise), and no longer join the old and new rows (whose plan, cached for the
connection's life, could turn quadratic)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 22:00:00

The function's text is the models' (loket.core.models.tallies); readers and the fold sum
the rows' counts and nets, so grouped rows count the same.
"""
from alembic import op

from loket.core.models.tallies import TALLY_FUNCTION

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

_UNGROUPED = """
CREATE OR REPLACE FUNCTION loket_tally_payments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO payment_tally_changes ({facts}) {signed_new};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO payment_tally_changes ({facts}) {signed_old};
  ELSE
    INSERT INTO payment_tally_changes ({facts})
      {signed_old} WHERE r.id IN (
        SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed})
      UNION ALL
      {signed_new} WHERE r.id IN (
        SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed});
  END IF;
  RETURN NULL;
END $$
"""


def _signed(rows: str, sign: str) -> str:
    return (f"SELECT r.tenant_id, r.is_test, r.status, "
            f"(r.paid_at AT TIME ZONE coalesce(s.document ->> 'timezone', 'UTC'))::date, "
            f"r.channel, r.method, r.payment_type, {sign}1, "
            f"{sign}(r.amount_received - r.change_given - r.refunded) "
            f"FROM {rows} r LEFT JOIN tenant_settings s ON s.tenant_id = r.tenant_id")


def _tallied(p: str) -> str:
    return (f"{p}.tenant_id, {p}.is_test, {p}.status, {p}.paid_at, {p}.channel, {p}.method, "
            f"{p}.payment_type, {p}.amount_received - {p}.change_given - {p}.refunded")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(TALLY_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_UNGROUPED.format(
            facts="tenant_id, is_test, status, paid_on, channel, method, payment_type, "
                  "payments, net",
            signed_new=_signed("new_rows", "+"), signed_old=_signed("old_rows", "-"),
            changed=f"({_tallied('o')}) IS DISTINCT FROM ({_tallied('n')})"))
