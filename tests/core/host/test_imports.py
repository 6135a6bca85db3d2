"""Importing receivables in blocks: the same rows as upserting them one by one, attributes
from ``attributes.<name>`` columns, the first bad line named and nothing imported."""

import csv
import io

import pytest
from sqlalchemy import select, text
from support.engine import ACTOR, seed

from loket.core.host import imports, receivables
from loket.core.models import AuditEntry, Consumer, PaymentPlan, Receivable, ReceivableAttribute
from loket.errors import ValidationFailed

CSV = (
    "account_number,name,kind,reference,amount,period,due_date,plan,sequence,email,"
    "attributes.dln,attributes.taxpayer_id\n"
    "N-1,Nina New,bill,NB-1,10.50,May 2025,2025-06-01,,,nina@example.com,,\n"
    "N-1,,service,NS-1,5.00,,,,,,,\n"
    "WU-10001,John Renamed,bill,INV-2025-001234,150.00,,,,,,,\n"
    "N-1,Nina New,bill,NB-1,12.00,,2025-07-01,,,nina@new.example.com,,\n"
    "N-2,Noor,installment,NP-1-1,30.00,,,NP-1,1,,,\n"
    "N-2,,installment,NP-1-2,30.00,,,NP-1,2,,,\n"
    "N-2,,tax_form,TF-1,99.00,,,,,,DLN12345678,TP-12345\n"
    "WU-10001,John Renamed,bill,INV-2025-001234,150.00,,,,,,,\n"
)


def _state(ctx, tenant_id):
    with ctx.transaction() as session:
        def rows(model, *columns):
            return sorted(tuple(getattr(r, c) for c in columns) for r in session.scalars(
                select(model).where(model.tenant_id == tenant_id)))
        consumers = {c.id: c.account_number for c in session.scalars(
            select(Consumer).where(Consumer.tenant_id == tenant_id))}
        plans = {p.id: p.reference for p in session.scalars(
            select(PaymentPlan).where(PaymentPlan.tenant_id == tenant_id))}
        return {
            "consumers": rows(Consumer, "account_number", "name", "name_search", "email",
                              "person_type", "account_status"),
            "receivables": sorted(
                (consumers[r.consumer_id], r.kind, r.reference, r.amount, r.paid,
                 r.description, r.period, r.due_date, r.issued_on, plans.get(r.plan_id),
                 r.sequence, r.status)
                for r in session.scalars(select(Receivable).where(
                    Receivable.tenant_id == tenant_id))),
            "attributes": rows(ReceivableAttribute, "name", "value"),
            "audit": sorted((a.action, a.entity_id, repr(a.before), repr(a.after))
                            for a in session.scalars(select(AuditEntry).where(
                                AuditEntry.tenant_id == tenant_id,
                                AuditEntry.action.like("%.upserted")))),
        }


def test_blocks_write_what_upserting_row_by_row_writes(ctx, tenant_id, monkeypatch):
    monkeypatch.setattr(imports, "BLOCK", 3)  # rows of one account straddle blocks
    schemas = ctx.plugins.attribute_schemas()
    other = seed(ctx, slug="t2")
    done = []
    with ctx.transaction() as session:
        count = imports.import_csv(session, ACTOR, tenant_id, io.StringIO(CSV), schemas,
                                   progress=done.append)
    assert (count, done) == (8, [3, 6, 8])
    with ctx.transaction() as session:
        for record in csv.DictReader(io.StringIO(CSV)):
            attributes = {k.split(".", 1)[1]: record.pop(k) for k in list(record)
                          if k.startswith("attributes.")}
            if any(attributes.values()):
                record["attributes"] = {k: v for k, v in attributes.items() if v}
            if record.get("name"):
                receivables.upsert_consumer(session, ACTOR, other, {
                    k: record[k] for k in imports.CONSUMER_FIELDS if record.get(k)})
            receivables.upsert_receivable(session, ACTOR, other, record, schemas)
    blocks, one_by_one = _state(ctx, tenant_id), _state(ctx, other)
    for part in ("consumers", "receivables", "attributes", "audit"):
        assert blocks[part] == one_by_one[part], part
    assert ("dln", "DLN12345678") in blocks["attributes"]
    assert ("N-1", "bill", "NB-1", 1200) in [r[:4] for r in blocks["receivables"]]


def test_sending_the_same_file_again_changes_and_audits_nothing(ctx, tenant_id):
    nightly = ("account_number,name,kind,reference,amount,due_date,email\n"
               "N-1,Nina New,bill,NB-1,10.50,2025-06-01,nina@example.com\n"
               "N-1,Nina New,service,NS-1,5.00,,nina@example.com\n"
               "WU-10001,John Renamed,bill,INV-2025-001234,150.00,,\n")
    states = []
    for _ in range(2):
        with ctx.transaction() as session:
            imports.import_csv(session, ACTOR, tenant_id, io.StringIO(nightly))
        states.append(_state(ctx, tenant_id))
    assert states[1] == states[0]
    changed = [a[:2] for a in states[1]["audit"] if a[1] in ("N-1", "WU-10001", "bill:NB-1",
                                                              "service:NS-1")]
    # Seeded John Doe, renamed once; Nina and her two items created once.
    assert sorted(changed) == [("consumer.upserted", "N-1"), ("consumer.upserted", "WU-10001"),
                               ("consumer.upserted", "WU-10001"),
                               ("receivable.upserted", "bill:NB-1"),
                               ("receivable.upserted", "service:NS-1")]


def test_a_long_import_plans_its_later_lookups_for_the_tables_it_has_grown(pg_ctx,
                                                                          monkeypatch):
    # On an empty tenant PostgreSQL planned each account lookup for the empty table the
    # last statistics described, and read every account of the tenant for each key.
    tenant = seed(pg_ctx, slug="fresh")
    monkeypatch.setattr(imports, "BLOCK", 40)
    rows = "".join(f"F-{i},Payer {i},bill,FB-{i},1.00\n" for i in range(200))
    with pg_ctx.transaction() as session:
        imports.import_csv(session, ACTOR, tenant,
                           "account_number,name,kind,reference,amount\n" + rows)
        estimates = dict(session.execute(text(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE relname IN ('consumers', 'receivables')")).all())
    # Refreshed before blocks 2, 3 and 5 (160 rows), uncommitted rows included.
    assert estimates["consumers"] >= 160 and estimates["receivables"] >= 160


def test_two_imports_at_once_never_wait_for_each_others_statistics(pg_ctx, monkeypatch):
    first, second = seed(pg_ctx, slug="first"), seed(pg_ctx, slug="second")
    monkeypatch.setattr(imports, "BLOCK", 40)

    def rows(prefix, count):
        return "account_number,name,kind,reference,amount\n" + "".join(
            f"{prefix}-{i},Payer {i},bill,{prefix}B-{i},1.00\n" for i in range(count))
    with pg_ctx.transaction() as session:
        imports.import_csv(session, ACTOR, first, rows("F", 80))  # analysed, uncommitted
        with pg_ctx.transaction() as other:  # analyses the same tables meanwhile
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert imports.import_csv(other, ACTOR, second, rows("S", 400)) == 400


@pytest.mark.parametrize(("row", "message"), [
    ("N-9,,bill,X-1,1.00", "line 3: unknown account 'N-9'"),
    ("WU-10001,,bill,X-1,0", "line 3: amount must be more than zero"),
    ("CRN29391,,bill,INV-2025-001234,10.00", "line 3: bill 'INV-2025-001234' belongs to"),
    ("WU-10001,,tax_form,X-2,1.00", "line 3: attributes are invalid"),
    ("WU-10001,,bill,X-3,1.00,2147483648", "line 3: sequence must be a whole number"),
    ("WU-10001,,bill,X-3,1.00,two", "line 3: sequence must be a whole number"),
    ("WU-10001,,bill,X-3,92233720368547758.08", "line 3: amount '92233720368547758.08' is "
                                                "too large"),
])
def test_the_first_bad_line_is_named_and_nothing_is_imported(ctx, tenant_id, row, message):
    text = ("account_number,name,kind,reference,amount,sequence\nN-1,Nina,bill,NB-1,1.00,\n"
            + row + "\n")
    with pytest.raises(ValidationFailed) as raised, ctx.transaction() as session:
        imports.import_csv(session, ACTOR, tenant_id, text, ctx.plugins.attribute_schemas())
    assert raised.value.detail.startswith(message)
    with ctx.transaction() as session:
        assert session.scalar(select(Consumer).where(Consumer.account_number == "N-1")) is None
