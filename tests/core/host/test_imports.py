"""Importing receivables in blocks: the same rows as upserting them one by one, attributes
from ``attributes.<name>`` columns, the first bad line named and nothing imported (the
API's limits and rules included), and a payment held for a form the file delivers
applied."""

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import select, text
from support.engine import ACTOR, ADMIN, connect_sandbox, deliver, payer, post, reload, seed

from loket.core.host import imports, plan_changes, receivables
from loket.core.models import AuditEntry, Consumer, PaymentPlan, Receivable, ReceivableAttribute
from loket.core.payments import checkout
from loket.core.payments.posting import resolve_targets
from loket.core.settings import load_settings, update_settings
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
    ("WU-10001,,bill,X-3,1.00,1001", "line 3: sequence must be a whole number from 1 to 1000"),
    ("WU-10001,,bill," + "R" * 65 + ",1.00", "line 3: reference must be at most 64 characters"),
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


@pytest.mark.parametrize(("column", "value"), [
    ("reference", "R" * 65), ("description", "d" * 301), ("period", "p" * 41),
    ("account_number", "A" * 65), ("name", "n" * 201), ("email", "e" * 190 + "@example.com"),
    ("phone", "1" * 51), ("service_address", "s" * 301), ("plan", "P" * 65),
    ("reference", "NUL\x00"), ("description", "NUL\x00"), ("name", "NUL\x00"),
    ("email", "nina@example.com, eve@example.com"), ("email", "nina@example.com\rBcc: e@x.y"),
    ("sequence", "0"), ("sequence", "1001"), ("attributes.note", "x" * 101),
])
def test_what_the_api_refuses_the_file_refuses_naming_the_line(ctx, tenant_id, column, value):
    row = {"account_number": "N-2", "name": "Noor", "kind": "note", "reference": "NB-2",
           "amount": "1.00", "plan": "", "sequence": "1", "attributes.note": "hi",
           column: value}  # a note joins no plan: a too long one is refused as such first
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerow({**row, column: "", "reference": "NB-1", "account_number": "N-1",
                     "name": "Nina", "plan": ""})
    writer.writerow(row)
    schemas = {"note": {"type": "object", "properties": {"note": {"type": "string"}}}}
    with pytest.raises(ValidationFailed) as raised, ctx.transaction() as session:
        imports.import_csv(session, ACTOR, tenant_id, out.getvalue(), schemas)
    assert [e["field"] for e in raised.value.errors] == [f"line 3.{column}"]
    with ctx.transaction() as session:
        assert session.scalar(select(Consumer).where(Consumer.account_number == "N-1")) is None


def test_money_on_a_receivable_stays_where_it_is(ctx, tenant_id):
    post(ctx, tenant_id, amount_received="50.00", references=("INV-2025-001234",))
    with ctx.transaction() as session:
        plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "installments": 2,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat(),
            "items": [{"kind": "bill", "reference": "INV-2025-001567"}]})
    refused = {"INV-2025-001234,145.50,cancelled": "status",  # 50.00 paid on it
               "INV-2025-001567,200.00,": "amount",  # in the plan
               "INV-2025-001567,152.25,cancelled": "status"}
    for row, field in refused.items():
        with pytest.raises(ValidationFailed) as raised, ctx.transaction() as session:
            imports.import_csv(session, ACTOR, tenant_id,
                               "account_number,kind,reference,amount,status\n"
                               f"WU-10001,service,SRV-LATE-0001,25.00,\nWU-10001,bill,{row}\n")
        assert [e["field"] for e in raised.value.errors] == [f"line 3.{field}"], row
    with ctx.transaction() as session:
        assert sorted((r.reference, r.amount, r.paid, r.status) for r in session.scalars(
            select(Receivable).where(Receivable.reference.like("INV-%")))) == [
            ("INV-2025-001234", 14550, 5000, "open"), ("INV-2025-001567", 15225, 0, "in_plan")]


def test_an_installment_joins_only_a_plan_of_its_own_account(ctx, tenant_id):
    other = ("account_number,name,kind,reference,amount,plan,sequence\n"
             "N-1,Nina,installment,NP-1-1,10.00,NP-1,1\n"
             "{account},,installment,{reference},10.00,{plan},2\n")
    for account, reference, plan in (("CRN29391", "X-1", "PP-2025-0034"),  # stored, WU-10001's
                                     ("CRN29391", "X-2", "NP-1")):  # made by line 2, N-1's
        with pytest.raises(ValidationFailed) as raised, ctx.transaction() as session:
            imports.import_csv(session, ACTOR, tenant_id, other.format(
                account=account, reference=reference, plan=plan))
        assert [e["field"] for e in raised.value.errors] == ["line 3.plan"]
        assert "belongs to another account" in raised.value.detail
    with ctx.transaction() as session:
        assert imports.import_csv(session, ACTOR, tenant_id, other.format(
            account="N-1", reference="NP-1-2", plan="NP-1")) == 2


def test_the_file_keeps_payment_plans_as_the_api_does(ctx, tenant_id):
    with ctx.transaction() as session:
        reference = plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "installments": 2,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat(),
            "items": [{"kind": "bill", "reference": "INV-2025-001234"}]}).reference  # 145.50
    first = f"WU-10001,installment,{reference}-1,72.75"  # made by loket
    refused = {
        f"WU-10001,bill,INV-2025-001234,145.50,,{reference},": "plan",  # in_plan
        f"WU-10001,bill,NB-9,5.00,,{reference},": "plan",
        f"WU-10001,installment,{reference}-9,5.00,,{reference},9": "plan",
        "WU-10001,installment,PP-2025-0034-1,67.50,,PP-OTHER,1": "plan",  # a move
        f"{first},,PP-2025-0034,": "plan",
        f"{first},cancelled,,": "status",
        f"WU-10001,installment,{reference}-1,1.00,,,": "amount",
        f"{first},,{reference},2": "sequence",
        # the line before put it in another plan
        "WU-10001,installment,NP-1,5.00,,NP-A,1\nWU-10001,installment,NP-1,5.00,,NP-B,1":
            "plan"}
    header = "account_number,kind,reference,amount,status,plan,sequence\n"
    for row, field in refused.items():
        with pytest.raises(ValidationFailed) as raised, ctx.transaction() as session:
            imports.import_csv(session, ACTOR, tenant_id, f"{header}WU-10001,service,"
                               f"SRV-LATE-0001,26.00,,,\n{row}\n")
        line = 3 + row.count("\n")
        assert [e["field"] for e in raised.value.errors] == [f"line {line}.{field}"], row
    with ctx.transaction() as session:
        entries = session.scalar(select(text("count(*)")).select_from(AuditEntry))
        assert imports.import_csv(session, ACTOR, tenant_id, (  # as loket holds them
            f"{header}{first},,{reference},1\n{first},,,\n"
            "WU-10001,bill,INV-2025-001234,145.50,,,\n")) == 3
    with ctx.transaction() as session:
        assert session.scalar(select(text("count(*)")).select_from(AuditEntry)) == entries
        rows = {r.reference: (r.amount, r.status, r.plan_id is not None) for r in session.scalars(
            select(Receivable).where(Receivable.tenant_id == tenant_id, Receivable.reference.in_(
                ("SRV-LATE-0001", "INV-2025-001234", "NB-9", "PP-2025-0034-1", "NP-1",
                 f"{reference}-1", f"{reference}-2", f"{reference}-9"))))}
        assert rows == {"SRV-LATE-0001": (2500, "open", False),
                        "INV-2025-001234": (14550, "in_plan", False),
                        "PP-2025-0034-1": (6750, "open", True),
                        f"{reference}-1": (7275, "open", True),
                        f"{reference}-2": (7275, "open", True)}


def _held_for(ctx, tenant_id, dln: str):
    """A payment of WU-10001 for a tax form not delivered yet (DLN ``dln``), its money
    taken and held."""
    connect_sandbox(ctx, tenant_id)
    with ctx.transaction() as session:
        routes = load_settings(session, tenant_id)["destinations"]
        update_settings(session, ADMIN, tenant_id, {"destinations": {**routes, "pay-a-tax-form": {
            "processor": "tax_form", "fields": {"dln": "dln", "amount": "amount"}}}})
    with ctx.transaction() as session:
        resolved = resolve_targets(ctx, session, load_settings(session, tenant_id), tenant_id,
                                   "WU-10001", "pay-a-tax-form", {"dln": dln, "amount": "125.00"})
        payment = checkout.start_destination_checkout(ctx, session, ACTOR, tenant_id, resolved,
                                                      "sandbox")
    assert deliver(ctx, payer(ctx, payment, "pay")).status == 200
    assert reload(ctx, payment).application_state == "held"
    return payment


def test_a_form_the_file_delivers_releases_the_payment_held_for_it(ctx, tenant_id):
    dln = "20269999999999"
    payment = _held_for(ctx, tenant_id, dln)
    with ctx.transaction() as session:
        imports.import_csv(session, ACTOR, tenant_id,
                           "account_number,kind,reference,amount,attributes.dln\n"
                           f"WU-10001,tax_form,F-LATE,125.00,{dln}\n",
                           ctx.plugins.attribute_schemas(), ctx=ctx)
    assert reload(ctx, payment).application_state == "applied"
    with ctx.transaction() as session:
        form = session.scalar(select(Receivable).where(Receivable.reference == "F-LATE"))
        assert (form.paid, form.status) == (12500, "paid")  # not due: never paid twice



def test_an_import_passes_over_a_held_payment_another_transaction_holds(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    dln = "20269999999998"
    payment = _held_for(ctx, tenant_id, dln)
    with ctx.engine.connect() as other:  # e.g. a webhook applying it, waiting for the form
        other.execute(text("SELECT id FROM payments WHERE id = :id FOR UPDATE"),
                      {"id": payment.id})
        with ctx.transaction() as session:  # the import does not wait for it
            session.execute(text("SET LOCAL lock_timeout = '5s'"))
            assert imports.import_csv(session, ACTOR, tenant_id,
                                      "account_number,kind,reference,amount,attributes.dln\n"
                                      f"WU-10001,tax_form,F-LOCKED,125.00,{dln}\n",
                                      ctx.plugins.attribute_schemas(), ctx=ctx) == 1
        other.rollback()
    assert reload(ctx, payment).application_state == "held"  # its holder applies it
