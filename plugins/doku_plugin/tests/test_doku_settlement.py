"""Settlement: DOKU has no settlement API; its report files (CSV or XLSX) become
SettlementLines."""

import datetime as dt
import io
import zipfile
from decimal import Decimal

import attrs
import openpyxl
import pytest

from loket.plugin_api import Money, ValidationFailed
from loket_doku import plugin
from loket_doku.checkout import invoice_for
from loket_doku.testing.kit import charge_unscoped, make_request

WIB = dt.timezone(dt.timedelta(hours=7))


def parse(config, content, filename="settlement.csv"):
    """The report's lines, read to the end (the hook hands them over lazily)."""
    return list(plugin.loket_gateway_parse_settlement_report(config=config, content=content,
                                                             filename=filename))


def test_fetch_settlements_is_empty_because_doku_sends_files(config):
    now = dt.datetime.now(dt.UTC)
    assert plugin.loket_gateway_fetch_settlements(config=config, since=now, until=now) == []


def test_the_emulators_report_parses_into_lines(config, doku):
    for payment_id, rupiah in (("PAY-2024-000400", 150_000), ("PAY-2024-000401", 99_000)):
        plugin.loket_gateway_charge(config=config, request=make_request(payment_id, rupiah))
        doku.pay_va(payment_id)
    report = doku.settlement_report_csv(batch_id="STL-20240502", fee=4000, tax_percent=11,
                                        settled_on=dt.date(2024, 5, 2))
    first, second = parse(config, report)
    assert (first.payment_id, first.gateway_reference, first.payout_reference) == \
        ("PAY-2024-000400", invoice_for(config, "PAY-2024-000400"), "STL-20240502")
    assert first.amount == Money(15_000_000, "IDR")
    assert first.fee == Money(444_000, "IDR")  # Rp 4,000 fee + Rp 440 VAT on it
    assert first.net == Money(14_556_000, "IDR")
    assert first.settled_at == dt.datetime(2024, 5, 2, tzinfo=WIB)
    assert first.raw["channel"] == "VIRTUAL_ACCOUNT_BCA"
    assert second.amount == Money(9_900_000, "IDR")


def test_a_line_names_a_payment_number_only_for_this_configurations_invoices(config, doku):
    """A shared merchant's report lists every party's invoices: only this configuration's
    name a payment number; a bare invoice from before invoices were scoped names its
    payment by gateway reference (what that payment stored), another party's names none."""
    other = attrs.evolve(config, installation_id="b" * 32)
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000402"))
    plugin.loket_gateway_charge(config=other, request=make_request("PAY-2024-000402"))
    charge_unscoped(config, make_request("PAY-2023-000402"))
    ours, theirs = invoice_for(config, "PAY-2024-000402"), invoice_for(other, "PAY-2024-000402")
    for invoice in (ours, theirs, "PAY-2023-000402"):
        doku.pay_va(invoice)
    lines = parse(config, doku.settlement_report_csv([ours, theirs, "PAY-2023-000402"]))
    assert [(line.gateway_reference, line.payment_id) for line in lines] == [
        (ours, "PAY-2024-000402"), (theirs, None), ("PAY-2023-000402", None)]


def test_indonesian_number_format_semicolons_and_total_rows(config):
    report = ("\ufeffInvoice Number;Amount;MDR;Settlement Amount;Settlement Date\n"
              "PAY-1;1.250.000;4.000;1.246.000;02/05/2024 10:00\n"
              ";1.250.000;4.000;1.246.000;\n").encode()
    (line,) = parse(config, report)
    assert (line.amount, line.fee, line.net) == (Money(125_000_000, "IDR"),
                                                 Money(400_000, "IDR"), Money(124_600_000, "IDR"))
    assert line.settled_at == dt.datetime(2024, 5, 2, 10, 0, tzinfo=WIB)
    assert line.payout_reference is None


def test_english_thousands_separators(config):
    report = (b'invoice_number,transaction_amount,fee,net_amount,settlement_date\n'
              b'PAY-2,"1,250,000.00","4,000.00","1,246,000.00",2024-05-02\n')
    (line,) = parse(config, report)
    assert line.net == Money(124_600_000, "IDR")


def test_missing_columns_are_named(config):
    with pytest.raises(ValidationFailed, match="netamount, settlementdate"):
        parse(config, b"Invoice Number,Amount,Fee\nPAY-1,1000,10\n")


def test_a_row_that_does_not_add_up_is_refused_by_number(config):
    report = (b"Invoice Number,Amount,Fee,Net Amount,Settlement Date\n"
              b"PAY-1,100000,4000,96000,2024-05-02\nPAY-2,100000,4000,97000,2024-05-02\n")
    with pytest.raises(ValidationFailed, match="row 3"):
        parse(config, report)


def test_bad_cells_are_refused_clearly(config):
    with pytest.raises(ValidationFailed, match="row 2 amount"):
        parse(config, b"Invoice Number,Amount,Fee,Net Amount,Settlement Date\n"
                      b"PAY-1,abc,0,0,2024-05-02\n")
    with pytest.raises(ValidationFailed, match="not a date"):
        parse(config, b"Invoice Number,Amount,Fee,Net Amount,Settlement Date\n"
                      b"PAY-1,10,0,10,yesterday\n")


def test_a_line_csv_cannot_read_is_a_validation_error_naming_it(config):
    report = (b"Invoice Number,Amount,Fee,Net Amount,Settlement Date\n"
              + b"PAY-1," + b"9" * 200_000 + b",0,0,2024-05-02\n")
    with pytest.raises(ValidationFailed, match="line 2 of the settlement report cannot be "
                                               "read as CSV") as caught:
        parse(config, report)
    assert caught.value.status == 422 and caught.value.errors[0]["field"] == "content"


@pytest.mark.parametrize("amount", ["100000000000000000000", "100000000000000000000.00",
                                    "100.000.000.000.000.000.000"])
def test_an_amount_loket_cannot_store_is_refused(config, amount):
    report = ("Invoice Number;Amount;Fee;Net Amount;Settlement Date\n"
              f"PAY-1;{amount};0;{amount};2024-05-02\n").encode()
    with pytest.raises(ValidationFailed, match="row 2 amount .* is too large"):
        parse(config, report)


HEADER = ("Invoice Number", "Amount", "Fee", "Tax", "Net Amount", "Settlement Date")


def xlsx(*rows, formats=None) -> bytes:
    """An XLSX workbook whose first sheet holds ``rows``; ``formats`` maps a column index
    to the number format of every data cell in it."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for index, number_format in (formats or {}).items():
        for cells in sheet.iter_rows(min_row=2):
            cells[index].number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_xlsx_report_parses_to_the_same_lines_as_the_csv_one(config, doku):
    for payment_id, rupiah in (("PAY-2024-000410", 150_000), ("PAY-2024-000411", 99_999_999),
                               ("PAY-2024-000412", 10_000)):
        plugin.loket_gateway_charge(config=config, request=make_request(payment_id, rupiah))
    doku.pay_va("PAY-2024-000410")
    doku.pay_card("PAY-2024-000411")
    doku.pay_o2o("PAY-2024-000412")
    options = {"batch_id": "STL-20240503", "fee": 4500, "tax_percent": 11,
               "settled_on": dt.date(2024, 5, 3)}
    from_csv = parse(config, doku.settlement_report_csv(**options))
    from_xlsx = parse(config, doku.settlement_report_xlsx(**options),
                      filename="Settlement_20240503.xlsx")
    assert len(from_csv) == 3
    assert from_xlsx == from_csv  # every field, raw cell texts included
    big = from_xlsx[1]
    assert (big.amount, big.fee, big.net) == (Money(9_999_999_900, "IDR"), Money(499_500, "IDR"),
                                              Money(9_999_500_400, "IDR"))
    assert big.settled_at == dt.datetime(2024, 5, 3, tzinfo=WIB)
    assert big.raw["amount"] == "99999999.00"


def test_xlsx_is_recognised_by_its_content_when_the_name_says_nothing(config, doku):
    plugin.loket_gateway_charge(config=config, request=make_request("PAY-2024-000413"))
    doku.pay_va("PAY-2024-000413")
    (line,) = parse(config, doku.settlement_report_xlsx(), filename="upload")
    assert line.payment_id == "PAY-2024-000413"


def test_xlsx_amounts_survive_exactly_whatever_the_cell_type(config):
    content = xlsx(HEADER,
                   ("PAY-1", 1_234_567.89, 4_000, Decimal("440.00"), 1_230_127.89,
                    dt.datetime(2024, 5, 2, 23, 59, 59)),
                   ("PAY-2", "1.250.000,50", "4.000", "0", "1.246.000,50", "02/05/2024 10:00"),
                   # Excel keeps 15 significant digits: Rp 999,999,999,999.99 is the most
                   ("PAY-3", 999_999_999_999.99, 0, 0, 999_999_999_999.99,
                    dt.datetime(2024, 5, 2)),
                   (None, 1_001_252_484_567.38, None, None, None, None),  # a totals row
                   formats={1: "#,##0.00", 2: '"Rp"#,##0.00', 4: "0.00"})
    first, second, third = parse(config, content, filename="report.XLSX")
    assert (first.amount, first.fee, first.net) == (
        Money(123_456_789, "IDR"), Money(444_000, "IDR"), Money(123_012_789, "IDR"))
    assert first.settled_at == dt.datetime(2024, 5, 2, 23, 59, 59, tzinfo=WIB)
    assert first.raw["fee"] == "4000.00"  # shown with the decimals its format asks for
    assert (second.amount, second.net) == (Money(125_000_050, "IDR"), Money(124_600_050, "IDR"))
    assert second.settled_at == dt.datetime(2024, 5, 2, 10, 0, tzinfo=WIB)
    assert third.amount == third.net == Money(99_999_999_999_999, "IDR")
    assert third.settled_at == dt.datetime(2024, 5, 2, tzinfo=WIB)


@pytest.mark.parametrize("number_format", ["0.000", "#,##0.000", '"Rp"#,##0.0000'])
def test_an_xlsx_number_is_read_as_that_number_whatever_its_decimals_shown(config,
                                                                           number_format):
    """150.5 shown as ``150.500`` is Rp 150.50 (15,050 sen), never Rp 150,500 read as
    Indonesian thousands: a numeric cell has no thousands separators."""
    content = xlsx(HEADER, ("PAY-1", 150.5, 0.5, 0, 150, "2024-05-02"),
                   formats={1: number_format, 2: number_format, 4: number_format})
    (line,) = parse(config, content, filename="report.xlsx")
    assert (line.amount, line.fee, line.net) == (
        Money(15_050, "IDR"), Money(50, "IDR"), Money(15_000, "IDR"))


def test_an_xlsx_number_with_three_decimals_is_refused_not_read_as_thousands(config):
    content = xlsx(HEADER, ("PAY-1", 100.125, 0, 0, 100.125, "2024-05-02"))
    with pytest.raises(ValidationFailed, match="row 2 amount: '100.125' is not a rupiah"):
        parse(config, content, filename="report.xlsx")


def test_an_xlsx_amount_with_more_than_sen_is_refused_not_rounded(config):
    content = xlsx(HEADER, ("PAY-1", 1000.125, 0, 0, 1000.125, "2024-05-02"),
                   formats={1: "#,##0.00", 4: "#,##0.00"})
    with pytest.raises(ValidationFailed, match="row 2 amount: '1000.125' is not a rupiah"):
        parse(config, content, filename="report.xlsx")


@pytest.mark.parametrize("content, message", [
    (b"Invoice Number,Amount\nPAY-1,10\n", "not a valid XLSX file"),
    (b"PK\x03\x04 truncated", "not a valid XLSX file"),
])
def test_a_file_that_is_not_xlsx_is_refused_clearly(config, content, message):
    with pytest.raises(ValidationFailed, match=message):
        parse(config, content, filename="Settlement_20240502.xlsx")


def test_a_zip_that_is_not_a_workbook_is_refused_clearly(config):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("report.txt", "Invoice Number,Amount")
    with pytest.raises(ValidationFailed, match="not a readable XLSX workbook"):
        parse(config, out.getvalue(), filename="Settlement_20240502.xlsx")


def test_xlsx_problems_are_named_like_csv_ones(config):
    with pytest.raises(ValidationFailed, match="lacks the columns: netamount, settlementdate"):
        parse(config, xlsx(("Invoice Number", "Amount", "Fee"), ("PAY-1", 1000, 10)),
              filename="r.xlsx")
    with pytest.raises(ValidationFailed, match="row 3: net"):
        parse(config, xlsx(HEADER, ("PAY-1", 100_000, 4000, 0, 96_000, "2024-05-02"),
                           ("PAY-2", 100_000, 4000, 0, 97_000, "2024-05-02")),
              filename="r.xlsx")
    with pytest.raises(ValidationFailed, match="row 2 settlement date: 'soon' is not a date"):
        parse(config, xlsx(HEADER, ("PAY-1", 10, 0, 0, 10, "soon")), filename="r.xlsx")
    with pytest.raises(ValidationFailed, match="empty"):
        parse(config, xlsx(), filename="r.xlsx")


def test_old_binary_xls_is_refused_with_a_way_out(config):
    with pytest.raises(ValidationFailed, match="XLSX or CSV"):
        parse(config, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", filename="Settlement.xls")


def test_a_report_is_read_lazily_line_by_line(config):
    """A million-line report is never a million lines in memory: the hook hands over an
    iterator, and a bad row is only met when loket reads that far."""
    header = "Invoice Number,Amount,Fee,Tax,Net Amount,Settlement Date,Batch ID\n"
    good = "PAY-1,150000,4000,440,145560,2024-05-02 10:00:00,STL-1\n"
    bad = "PAY-2,150000,4000,440,1,2024-05-02 10:00:00,STL-1\n"
    lines = plugin.loket_gateway_parse_settlement_report(
        config=config, content=(header + good + bad).encode(), filename="settlement.csv")
    assert not isinstance(lines, list)
    assert next(lines).gateway_reference == "PAY-1"
    with pytest.raises(ValidationFailed, match="row 3"):
        next(lines)
