"""The receivables ledger that destination processors read (OPC "billing system").

Processors get a :class:`Ledger` instead of a database session, so a host's own processor
can read its own system instead and loket's tables stay loket's.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from loket.core.models import (
    Consumer,
    PaymentPlan,
    Receivable,
    ReceivableAttribute,
    TenantSettings,
)
from loket.core.states import ReceivableStatus
from loket.money import Money
from loket.types import Obligation


def pay(receivable: Receivable, value: int) -> None:
    """Add ``value`` (minor units) to what is paid of ``receivable``; fully paid, it is PAID.

    Called with the receivable locked, by every path that puts money on a bill: posting a
    payment's allocations and applying a credit note.
    """
    receivable.paid += value
    if receivable.paid == receivable.amount:
        receivable.status = ReceivableStatus.PAID


def unpay(receivable: Receivable, value: int) -> None:
    """Take ``value`` (minor units) back from what is paid of ``receivable``; a PAID one
    reopens. Called with the receivable locked when a refund, a lost dispute or a
    cancellation reverses an allocation."""
    receivable.paid -= value
    if receivable.status == ReceivableStatus.PAID:
        receivable.status = ReceivableStatus.OPEN


def status_of(row: Receivable) -> str:
    """The status a processor sees: an open receivable whose paid amount reached its amount
    (a host upload may lag behind) reads as PAID."""
    if row.status == ReceivableStatus.OPEN and row.paid >= row.amount:
        return ReceivableStatus.PAID
    return row.status


def obligation_of(row: Receivable, plan_reference: str | None = None) -> Obligation:
    """Build the value type a processor sees from a receivable row."""
    return Obligation(
        receivable_id=row.id, kind=row.kind, reference=row.reference,
        description=row.description, amount_due=Money(row.amount, row.currency),
        outstanding=Money(row.amount - row.paid, row.currency), period=row.period,
        due_date=row.due_date, plan_reference=plan_reference,
    )


_BY_REFERENCE = select(Receivable).where(Receivable.tenant_id == bindparam("tenant_id"),
                                        Receivable.kind == bindparam("kind"),
                                        Receivable.reference == bindparam("reference"))


class Ledger:
    """Read access to one tenant's receivables.

    :param session: the caller's session (the engine's transaction).
    :param tenant_id: the tenant whose receivables are visible.
    """

    def __init__(self, session: Session, tenant_id: int):
        self.session = session
        self.tenant_id = tenant_id

    @property
    def currency(self) -> str:
        """The tenant's currency (ISO 4217 code), for amounts a payer declares."""
        document = self.session.scalar(select(TenantSettings.document).where(
            TenantSettings.tenant_id == self.tenant_id))
        return str((document or {})["currency"])

    def _consumer_id(self, account_number: str) -> int | None:
        return self.session.scalar(select(Consumer.id).where(
            Consumer.tenant_id == self.tenant_id, Consumer.account_number == account_number))

    def open_items(self, account_number: str, kind: str) -> list[Obligation]:
        """Unpaid, uncancelled receivables of ``kind`` for an account, oldest due first."""
        consumer_id = self._consumer_id(account_number)
        if consumer_id is None:
            return []
        rows = self.session.scalars(
            select(Receivable).where(
                Receivable.tenant_id == self.tenant_id, Receivable.consumer_id == consumer_id,
                Receivable.kind == kind, Receivable.status == ReceivableStatus.OPEN,
            ).order_by(Receivable.due_date.is_(None), Receivable.due_date, Receivable.id)
        ).all()
        return [obligation_of(r, self._plan_ref(r)) for r in rows if r.amount > r.paid]

    def find(self, kind: str, reference: str) -> tuple[Obligation, str, str] | None:
        """Find a receivable by kind and reference in this tenant.

        :returns: ``(obligation, owner account number, status)`` or ``None``.
        """
        row = self.session.scalar(_BY_REFERENCE, {"tenant_id": self.tenant_id, "kind": kind,
                                                  "reference": reference})
        if row is None:
            return None
        owner = self.session.get_one(Consumer, row.consumer_id)
        return obligation_of(row, self._plan_ref(row)), owner.account_number, status_of(row)

    def find_by_attributes(self, kind: str, attributes: dict[str, str]
                           ) -> list[tuple[Obligation, str, str]]:
        """Receivables of ``kind`` whose typed attributes equal every one of ``attributes``
        (an indexed lookup), oldest due first.

        :returns: ``(obligation, owner account number, status)`` per match.
        """
        query = select(Receivable).where(Receivable.tenant_id == self.tenant_id,
                                         Receivable.kind == kind)
        for name, value in attributes.items():
            alias = aliased(ReceivableAttribute)
            query = query.join(alias, (alias.receivable_id == Receivable.id)
                               & (alias.tenant_id == self.tenant_id) & (alias.name == name)
                               & (alias.value == str(value)))
        rows = self.session.scalars(query.order_by(
            Receivable.due_date.is_(None), Receivable.due_date, Receivable.id)).all()
        out = []
        for row in rows:
            owner = self.session.get(Consumer, row.consumer_id)
            if owner is not None:
                out.append((obligation_of(row, self._plan_ref(row)), owner.account_number,
                            status_of(row)))
        return out

    def plan(self, reference: str) -> tuple[str, str, list[Obligation]] | None:
        """Find a payment plan: ``(owner account, plan status, unpaid installments oldest
        first)`` or ``None``."""
        plan = self.session.scalar(select(PaymentPlan).where(
            PaymentPlan.tenant_id == self.tenant_id, PaymentPlan.reference == reference))
        if plan is None:
            return None
        owner = self.session.get_one(Consumer, plan.consumer_id)
        rows = self.session.scalars(select(Receivable).where(
            Receivable.plan_id == plan.id, Receivable.status == ReceivableStatus.OPEN,
        ).order_by(Receivable.sequence, Receivable.due_date, Receivable.id)).all()
        items = [obligation_of(r, reference) for r in rows if r.amount > r.paid]
        return owner.account_number, plan.status, items

    def _plan_ref(self, row: Receivable) -> str | None:
        if row.plan_id is None:
            return None
        plan = self.session.get(PaymentPlan, row.plan_id)
        return plan.reference if plan else None
