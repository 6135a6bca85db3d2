"""DOKU settlement reports (CSV) into :class:`SettlementLine` values.

DOKU has no settlement API for Checkout merchants: it e-mails or SFTPs a report per
settlement batch, as CSV or XLSX (Back Office > Configuration > Settlement). DOKU does not
publish the report's column layout, so this parser reads the columns below by header name
(case, spaces, ``_`` and ``-`` ignored; the first matching alias wins):

============================  ======================================================  ========
meaning                       accepted headers                                        required
============================  ======================================================  ========
invoice (= loket payment id)  Invoice Number, Invoice No, Invoice, Order ID            yes
gross amount                  Amount, Transaction Amount, Gross Amount, Purchase Amount yes
fee                           Fee, MDR, Fee Amount, Transaction Fee, Discount Amount   yes
tax on the fee                Tax, VAT, PPN, Tax Amount                               no
net amount                    Net Amount, Settlement Amount, Pay Out Amount, Net      yes
settlement date               Settlement Date, Settled Date, Settlement Time, Pay Out  yes
                              Date
batch                         Batch ID, Settlement Batch, Batch Number, Batch No,     no
                              Settlement ID
channel                       Channel, Payment Channel, Payment Method                no
============================  ======================================================  ========

Amounts are rupiah, written ``150000``, ``150000.00``, ``150,000.00`` or ``150.000``.
Dates are ``YYYY-MM-DD[ HH:MM[:SS]]``, ``DD/MM/YYYY[ ...]`` or ISO 8601; a date without a
zone is Jakarta time (WIB, UTC+7). Rows without an invoice (totals) are skipped. Each row
must satisfy ``net = amount - fee - tax``; the line's ``fee`` is ``fee + tax``.
XLSX needs ``openpyxl``, which this installation does not ship: XLSX files are refused
with a request to export CSV instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from loket.plugin_api import Money, SettlementLine, ValidationFailed

CURRENCY = "IDR"
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")

COLUMNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "invoice": (("invoicenumber", "invoiceno", "invoice", "orderid"), True),
    "amount": (("amount", "transactionamount", "grossamount", "purchaseamount"), True),
    "fee": (("fee", "mdr", "feeamount", "transactionfee", "discountamount"), True),
    "tax": (("tax", "vat", "ppn", "taxamount"), False),
    "net": (("netamount", "settlementamount", "payoutamount", "net"), True),
    "settled_at": (("settlementdate", "settleddate", "settlementtime", "payoutdate"), True),
    "batch": (("batchid", "settlementbatch", "batchnumber", "batchno", "settlementid"), False),
    "channel": (("channel", "paymentchannel", "paymentmethod"), False),
}

_ID_AMOUNT = re.compile(r"^\d{1,3}(\.\d{3})+(,\d{1,2})?$")   # 1.234.567,00 (Indonesian)
_EN_AMOUNT = re.compile(r"^\d{1,3}(,\d{3})+(\.\d{1,2})?$")   # 1,234,567.00
_PLAIN_AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%d/%m/%Y %H:%M:%S",
                 "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y")


def _key(header: str) -> str:
    return re.sub(r"[\s_\-./()]", "", header.strip().lstrip("\ufeff").lower())


def parse_amount(text: str, *, where: str) -> Money:
    """Parse a rupiah amount as written in a report into IDR Money (minor units).

    :raises ValidationFailed: naming ``where`` when the text is not an amount.
    """
    raw = (text or "").strip().replace("Rp", "").replace(" ", "")
    if _ID_AMOUNT.match(raw):
        raw = raw.replace(".", "").replace(",", ".")
    elif _EN_AMOUNT.match(raw):
        raw = raw.replace(",", "")
    if not _PLAIN_AMOUNT.match(raw):
        raise ValidationFailed(f"{where}: '{text}' is not a rupiah amount", field="content")
    return Money.parse(raw, CURRENCY, field=where)


def parse_date(text: str, *, where: str) -> dt.datetime:
    """Parse a settlement date; a date without a zone is taken as Jakarta time (WIB)."""
    raw = (text or "").strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(raw, fmt).replace(tzinfo=WIB)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{where}: '{text}' is not a date", field="content") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=WIB)


def _columns(header: list[str]) -> dict[str, int]:
    keys = [_key(h) for h in header]
    found, missing = {}, []
    for name, (aliases, required) in COLUMNS.items():
        index = next((keys.index(a) for a in aliases if a in keys), None)
        if index is not None:
            found[name] = index
        elif required:
            missing.append(aliases[0])
    if missing:
        raise ValidationFailed(
            "the DOKU settlement report lacks the columns: " + ", ".join(missing)
            + " (see the loket-doku README for the accepted headers)", field="content")
    return found


def parse_csv(content: bytes) -> list[SettlementLine]:
    """Read a DOKU settlement report CSV (comma or semicolon separated, UTF-8).

    :returns: one :class:`SettlementLine` per transaction row; ``payment_id`` and
        ``gateway_reference`` are the invoice number, ``payout_reference`` the batch.
    :raises ValidationFailed: unreadable file, missing columns, a bad cell or a row whose
        net is not amount - fee - tax (the row number is named).
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the settlement report is not UTF-8 text", field="content") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise ValidationFailed("the settlement report is empty", field="content")
    cols = _columns(rows[0])
    lines = []
    for number, row in enumerate(rows[1:], start=2):
        def cell(name: str) -> str:
            index = cols.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        invoice = cell("invoice")
        if not invoice:
            continue
        where = f"row {number}"
        amount = parse_amount(cell("amount"), where=f"{where} amount")
        fee = parse_amount(cell("fee") or "0", where=f"{where} fee")
        tax = parse_amount(cell("tax") or "0", where=f"{where} tax")
        net = parse_amount(cell("net"), where=f"{where} net amount")
        if amount - fee - tax != net:
            raise ValidationFailed(
                f"{where}: net {net} is not amount {amount} minus fee {fee} and tax {tax}",
                field="content")
        raw = {name: cell(name) for name in cols}
        lines.append(SettlementLine(
            gateway_reference=invoice,
            amount=amount,
            fee=fee + tax,
            net=net,
            settled_at=parse_date(cell("settled_at"), where=f"{where} settlement date"),
            payment_id=invoice,
            payout_reference=cell("batch") or None,
            raw=raw,
        ))
    return lines


def parse_report(content: bytes, filename: str) -> list[SettlementLine]:
    """Parse a report file by its extension (``.csv``; ``.xlsx`` is refused clearly)."""
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xls")):
        raise ValidationFailed(
            "XLSX settlement reports cannot be read by this installation (openpyxl is not "
            "installed): choose CSV in DOKU Back Office > Configuration > Settlement, or save "
            "the file as CSV, and upload that", field="filename")
    return parse_csv(content)

