"""Settlement: DOKU has no settlement API; its report files (CSV) become SettlementLines."""

import datetime as dt

import pytest

from doku_testkit import make_request
from loket.plugin_api import Money, ValidationFailed
from loket_doku import plugin

WIB = dt.timezone(dt.timedelta(hours=7))


def parse(config, content, filename="settlement.csv"):
    return plugin.loket_gateway_parse_settlement_report(config=config, content=content,
                                                        filename=filename)


def test_fetch_settlements_is_empty_because_doku_sends_files(config):
    now = dt.datetime.now(dt.timezone.utc)
    assert plugin.loket_gateway_fetch_settlements(config=config, since=now, until=now) == []


def test_the_emulators_report_parses_into_lines(config, doku):
    for payment_id, rupiah in (("PAY-2024-000400", 150_000), ("PAY-2024-000401", 99_000)):
        plugin.loket_gateway_charge(config=config, request=make_request(payment_id, rupiah))
        doku.pay_va(payment_id)
    report = doku.settlement_report_csv(batch_id="STL-20240502", fee=4000, tax_percent=11,
                                        settled_on=dt.date(2024, 5, 2))
    first, second = parse(config, report)
    assert (first.payment_id, first.gateway_reference, first.payout_reference) == \
        ("PAY-2024-000400", "PAY-2024-000400", "STL-20240502")
    assert first.amount == Money(15_000_000, "IDR")
    assert first.fee == Money(444_000, "IDR")  # Rp 4,000 fee + Rp 440 VAT on it
    assert first.net == Money(14_556_000, "IDR")
    assert first.settled_at == dt.datetime(2024, 5, 2, tzinfo=WIB)
    assert first.raw["channel"] == "VIRTUAL_ACCOUNT_BCA"
    assert second.amount == Money(9_900_000, "IDR")


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


def test_xlsx_is_refused_with_a_way_out(config):
    with pytest.raises(ValidationFailed, match="CSV"):
        parse(config, b"PK\x03\x04", filename="Settlement_20240502.xlsx")
