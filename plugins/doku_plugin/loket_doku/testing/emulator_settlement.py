"""Settlement reports from the DOKU emulator, as CSV or XLSX, for paid orders. A mixin of
:class:`~loket_doku.testing.emulator.DokuEmulator`."""

from __future__ import annotations

import csv
import datetime as dt
import io

from loket_doku.testing.emulator_wire import WIB, utc_now


class SettlementMixin:
    """Settlement reports (see the module docstring)."""

    orders: dict[str, dict]

    REPORT_HEADER = ("Batch ID", "Invoice Number", "Transaction Date", "Settlement Date",
                     "Channel", "Amount", "Fee", "Tax", "Net Amount")

    def settlement_report_rows(self, invoices: list[str] | None = None, *,
                               batch_id: str = "STL-0001", fee: int = 4000,
                               tax_percent: int = 11,
                               settled_on: dt.date | None = None) -> list[tuple]:
        """The rows of a settlement report for paid orders (typed values, header excluded):
        batch, invoice, paid-at (WIB, naive), settlement date, channel, then the gross
        amount, a flat ``fee``, the tax on the fee and the net, in whole rupiah (int)."""
        chosen = invoices or [i for i, o in self.orders.items() if o["status"] == "SUCCESS"]
        day = settled_on or utc_now().astimezone(WIB).date()
        rows = []
        for invoice in chosen:
            order = self.orders[invoice]
            tax = fee * tax_percent // 100
            paid = (order["paid_at"] or order["created"]).astimezone(WIB).replace(tzinfo=None)
            rows.append((batch_id, order["invoice"], paid, day,
                         order["channel"].get("channel", ""),
                         order["amount"], fee, tax, order["amount"] - fee - tax))
        return rows

    def settlement_report_csv(self, invoices: list[str] | None = None, **kwargs) -> bytes:
        """A settlement report (CSV) for paid orders, in the columns the plugin documents
        (keyword arguments as :meth:`settlement_report_rows`); amounts written ``150000.00``.
        """
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.REPORT_HEADER)
        for batch, invoice, paid, day, channel, *amounts in self.settlement_report_rows(
                invoices, **kwargs):
            writer.writerow([batch, invoice, paid.strftime("%Y-%m-%d %H:%M:%S"),
                             day.isoformat(), channel, *(f"{a}.00" for a in amounts)])
        return out.getvalue().encode("utf-8")

    def settlement_report_xlsx(self, invoices: list[str] | None = None, **kwargs) -> bytes:
        """The same report as :meth:`settlement_report_csv`, as an XLSX workbook: amounts
        are numeric cells formatted ``#,##0.00``, dates are date cells."""
        import openpyxl  # only this report needs it

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "Settlement"
        sheet.append(self.REPORT_HEADER)
        for row in self.settlement_report_rows(invoices, **kwargs):
            sheet.append(row)
            cells = sheet[sheet.max_row]
            cells[2].number_format = "yyyy-mm-dd hh:mm:ss"
            cells[3].number_format = "yyyy-mm-dd"
            for cell in cells[5:]:
                cell.number_format = "#,##0.00"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
