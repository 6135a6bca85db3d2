"""DOKU settlement reports (CSV or XLSX) into :class:`SettlementLine` values.

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

Both formats are first turned into rows of cells (:func:`csv_rows`, :func:`xlsx_rows`)
and then read by the same :func:`parse_rows`. A cell is its text, except an XLSX numeric
cell: that is its exact value, a :class:`~decimal.Decimal` with the decimals its number
format shows (``150000`` formatted ``0.00`` is ``150000.00``; digits are never rounded
away). An amount is read from that value, never from a text, so a number such as
``150.5`` shown as ``150.500`` is Rp 150.50, not Indonesian thousands. In a line's ``raw``
the number is written out (``150000.00``). A date cell is the text ``YYYY-MM-DD`` (with
`` HH:MM:SS`` when its format shows a time).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from decimal import Decimal

import openpyxl

from loket.plugin_api import Money, SettlementLine, ValidationFailed
from loket_doku.checkout import payment_number

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
_XLSX_MAGIC = b"PK\x03\x04"   # an XLSX file is a zip archive
_FORMAT_DECIMALS = re.compile(r"0\.(0+)")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%d/%m/%Y %H:%M:%S",
                 "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y")


Cell = str | Decimal
"""A report cell: its text, or an XLSX numeric cell's exact value."""


def _text(cell: Cell) -> str:
    return cell.strip() if isinstance(cell, str) else format(cell, "f")


def _key(header: str) -> str:
    return re.sub(r"[\s_\-./()]", "", header.strip().lstrip("\ufeff").lower())


def _number_amount(value: Decimal, where: str) -> Money:
    shown = format(value, "f")
    raw = shown.rstrip("0").rstrip(".") if "." in shown else shown  # the format's padding
    if not _PLAIN_AMOUNT.match(raw):
        raise ValidationFailed(f"{where}: '{shown}' is not a rupiah amount", field="content")
    return Money.parse(raw, CURRENCY, field=where)


def parse_amount(text: Cell, *, where: str) -> Money:
    """Parse a rupiah amount as written in a report (or an XLSX cell's number, read as
    that number: no thousands separators) into IDR Money (minor units).

    :raises ValidationFailed: naming ``where`` when the text is not an amount, or is more
        than loket can store.
    """
    if isinstance(text, Decimal):
        return _number_amount(text, where)
    raw = (text or "").strip().replace("Rp", "").replace(" ", "")
    if raw.isascii() and raw.isdigit():  # whole rupiah, most reports: no pattern needed
        return Money.parse(raw, CURRENCY, field=where)
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
    try:  # YYYY-MM-DD[ HH:MM[:SS]] (the first formats below) without strptime's cost
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        pass
    else:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=WIB)
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


def csv_rows(content: bytes) -> Iterator[list[str]]:
    """Split a CSV report (UTF-8, BOM allowed; comma or semicolon separated) into rows of
    cell texts, read lazily (a million-line report is never a million rows at once).

    :raises ValidationFailed: when the bytes are not UTF-8 text, or a line is not CSV the
        reader can take (e.g. a cell over its 131,072 characters), as the rows are read.
    """
    first = content.split(b"\n", 1)[0]
    delimiter = ";" if first.count(b";") > first.count(b",") else ","
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        yield from reader
    except UnicodeDecodeError:
        raise ValidationFailed("the settlement report is not UTF-8 text", field="content") from None
    except csv.Error as exc:
        raise ValidationFailed(f"line {reader.line_num} of the settlement report cannot be "
                               f"read as CSV ({exc})", field="content") from None


def _number(value, number_format: str) -> Decimal:
    # A float cell goes through its shortest decimal repr, never through float arithmetic.
    number = Decimal(str(value))
    section = re.sub(r'"[^"]*"', "", (number_format or "").split(";")[0])
    shown = _FORMAT_DECIMALS.search(section)
    places = len(shown.group(1)) if shown else 0
    if -number.as_tuple().exponent < places:  # pad to the shown decimals (exact)
        number = number.quantize(Decimal(1).scaleb(-places))
    return number


def _cell(value, number_format: str) -> Cell:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, dt.datetime):
        shows_time = any(c in (number_format or "").lower() for c in "hs")
        if shows_time or value.time() != dt.time(0):
            return value.isoformat(sep=" ", timespec="seconds")
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        return _number(value, number_format)
    return str(value)


def xlsx_rows(content: bytes) -> list[list[Cell]]:
    """Read the first worksheet of an XLSX report into rows of cells (see the module
    docstring for numbers and dates).

    :raises ValidationFailed: when the bytes are not a readable XLSX workbook.
    """
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except zipfile.BadZipFile:
        raise ValidationFailed("the settlement report is not a valid XLSX file (it is not a "
                               "zip archive); upload the file as DOKU sent it, or as CSV",
                               field="content") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a broken file
        raise ValidationFailed(f"the settlement report is not a readable XLSX workbook "
                               f"({type(exc).__name__}: {exc})", field="content") from None
    try:
        if not book.worksheets:
            raise ValidationFailed("the XLSX settlement report has no worksheet",
                                   field="content")
        return [[_cell(getattr(cell, "value", None),
                       getattr(cell, "number_format", "")) for cell in row]
                for row in book.worksheets[0].iter_rows()]
    except ValidationFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet fails while rows are read
        raise ValidationFailed(f"the XLSX settlement report's first worksheet cannot be "
                               f"read ({type(exc).__name__}: {exc})", field="content") from None
    finally:
        book.close()


def _row_cell(row: list[Cell], index: int) -> Cell:
    if index >= len(row):
        return ""
    value = row[index]
    return value.strip() if isinstance(value, str) else value


def parse_rows(rows: Iterable[list[Cell]], *, tag: str | None = None
               ) -> Iterator[SettlementLine]:
    """Turn a report's rows of cells (header first) into settlement lines, lazily.

    :param tag: the configuration's invoice tag (:func:`checkout.scope_tag`): a line's
        ``payment_id`` is then the payment number only for an invoice carrying it
        (:func:`checkout.payment_number`); without a tag it is the invoice.
    :returns: one :class:`SettlementLine` per transaction row; ``gateway_reference`` is the
        invoice number, ``payout_reference`` the batch.
    :raises ValidationFailed: missing columns, a bad cell or a row whose net is not
        amount - fee - tax (the row number is named), as the lines are read.
    """
    filled = (r for r in rows if any(_text(cell) for cell in r))
    header = next(filled, None)
    if header is None:
        raise ValidationFailed("the settlement report is empty", field="content")
    cols = _columns([_text(cell) for cell in header])
    for number, row in enumerate(filled, start=2):
        cells = {name: _row_cell(row, index) for name, index in cols.items()}
        invoice = _text(cells["invoice"])
        if not invoice:
            continue
        where = f"row {number}"
        amount = parse_amount(cells["amount"], where=f"{where} amount")
        fee = parse_amount(cells["fee"] or "0", where=f"{where} fee")
        tax = parse_amount(cells.get("tax") or "0", where=f"{where} tax")
        net = parse_amount(cells["net"], where=f"{where} net amount")
        if amount - fee - tax != net:
            raise ValidationFailed(
                f"{where}: net {net} is not amount {amount} minus fee {fee} and tax {tax}",
                field="content")
        raw = {name: _text(value) for name, value in cells.items()}
        yield SettlementLine(
            gateway_reference=invoice,
            amount=amount,
            fee=fee + tax,
            net=net,
            settled_at=parse_date(raw["settled_at"], where=f"{where} settlement date"),
            payment_id=invoice if tag is None else payment_number(invoice, tag),
            payout_reference=raw.get("batch") or None,
            raw=raw,
        )


def parse_csv(content: bytes, *, tag: str | None = None) -> Iterator[SettlementLine]:
    """Read a DOKU settlement report CSV into lines, lazily (see :func:`parse_rows`)."""
    return parse_rows(csv_rows(content), tag=tag)


def parse_xlsx(content: bytes, *, tag: str | None = None) -> Iterator[SettlementLine]:
    """Read a DOKU settlement report XLSX (its first worksheet) into lines, lazily."""
    return parse_rows(xlsx_rows(content), tag=tag)


def parse_report(content: bytes, filename: str, *, tag: str | None = None
                 ) -> Iterator[SettlementLine]:
    """Parse a report file: XLSX when the name ends in ``.xlsx`` or the bytes are a zip
    archive, CSV otherwise; the old binary ``.xls`` is refused with a way out. The lines
    are read lazily (contract 1.3): loket settles them a block at a time. ``tag`` is as
    for :func:`parse_rows`.

    :raises ValidationFailed: as :func:`parse_rows`, or for an unreadable file (at once for
        ``.xls`` and a broken XLSX; for a CSV, as its lines are read).
    """
    name = (filename or "").lower()
    if name.endswith(".xls"):
        raise ValidationFailed(
            "old-style .xls settlement reports cannot be read: choose XLSX or CSV in DOKU "
            "Back Office > Configuration > Settlement, or save the file as .xlsx or .csv, "
            "and upload that", field="filename")
    if name.endswith(".xlsx") or content.startswith(_XLSX_MAGIC):
        return parse_xlsx(content, tag=tag)
    return parse_csv(content, tag=tag)
