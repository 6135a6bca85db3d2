"""Fixtures of the loket-revenue tests: a real loket database (SQLite) with one tenant, an
account and tax receivables carrying their typed attributes, and loket's plugin manager
with every installed plugin (this package included, through its entry points)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from loket.core import audit, tenants
from loket.core.db import make_engine
from loket.core.host import receivables
from loket.core.host.obligations import Ledger
from loket.core.models import Base
from loket.plugins import Plugins

ACTOR = audit.Actor("revenue-tests", "system")
ITEMS = [
    ("tax_period", "VAT-Q2", "200.00", "2026-04-30",
     {"taxpayer_id": "TIN-12345", "tax_type": "VAT", "period": "2026-Q2"}),
    ("tax_period", "VAT-Q3", "300.00", "2026-07-31",
     {"taxpayer_id": "TIN-12345", "tax_type": "VAT", "period": "2026-Q3"}),
    ("collection_notice", "CN-2", "60.00", "2026-06-01", {"customer_contact_id": "CC-9"}),
    ("collection_notice", "CN-1", "40.00", "2026-05-01", {"customer_contact_id": "CC-9"}),
    ("tax_form", "F-1", "80.00", None, {"dln": "20260012345678"}),
    ("tax_obligation", "OB-1", "90.00", None, {"obligation_id": "OBL-77"}),
    ("tax_role", "TR-1", "10.00", "2026-01-01", {"tax_role_id": "ROLE-5"}),
    ("tax_role", "TR-2", "15.00", "2026-02-01", {"tax_role_id": "ROLE-5"}),
]


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """loket's plugin manager with every installed plugin."""
    return Plugins()


@pytest.fixture
def session(tmp_path, plugins):
    """A session on a fresh database holding tenant ``rev`` (IDR), account ``T-1`` and
    :data:`ITEMS`; account ``T-2`` owns obligation ``OBL-99``."""
    engine = make_engine(f"sqlite:///{tmp_path / 'revenue.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        tenant = tenants.create_tenant(session, ACTOR, "rev", "Revenue Agency",
                                       {"currency": "IDR"})
        for account in ("T-1", "T-2"):
            receivables.upsert_consumer(session, ACTOR, tenant.id,
                                        {"account_number": account, "name": f"Taxpayer {account}"})
        schemas = plugins.attribute_schemas()
        for kind, reference, amount, due, attributes in ITEMS:
            receivables.upsert_receivable(session, ACTOR, tenant.id, {
                "account_number": "T-1", "kind": kind, "reference": reference,
                "amount": amount, "due_date": due, "attributes": attributes}, schemas)
        receivables.upsert_receivable(session, ACTOR, tenant.id, {
            "account_number": "T-2", "kind": "tax_obligation", "reference": "OB-9",
            "amount": "5.00", "attributes": {"obligation_id": "OBL-99"}}, schemas)
        session.info["tenant_id"] = tenant.id
        yield session
    engine.dispose()


@pytest.fixture
def ledger(session) -> Ledger:
    """The tenant's receivables as processors read them."""
    return Ledger(session, session.info["tenant_id"])
