"""The takings reports as CSV (RFC 4180, written by Python's csv module): one table per report,
amounts in major units with the currency's decimals ("12.50"), every text cell guarded
against formula injection (docs/money.md, "Takings")."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from schemas.takings import (
    CashTotal,
    DayTakings,
    FilmWeekTakings,
    HourCash,
    MethodCash,
    Reconciliation,
    Sales,
    ScreeningTakings,
    TicketTypeSales,
)

# ISO 4217 currencies whose minor unit is not a hundredth; every other has two decimals.
_DECIMALS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}
# A cell a spreadsheet would read as a formula (or as the start of one after a tab or a line
# break) starts with one of these; such a cell gets a leading apostrophe, which spreadsheets
# show as text (OWASP, "CSV Injection"). Full-width forms too: some spreadsheets fold them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")

SALES = ["currency", "admissions", "list_price", "discount", "fee", "gross", "tax", "net_of_tax"]
CASH = ["paid", "refunded", "net"]
RECONCILED = ["unpaid", "overpaid", "refund_due", "net_cash"]
_MONEY = {"list_price", "discount", "fee", "gross", "tax", "net_of_tax", *CASH, *RECONCILED}


def text(value: str) -> str:
    """A text cell that cannot run as a formula."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def money(minor: int, currency: str) -> str:
    """Minor units in major units: 1250 EUR -> "12.50", 1250 JPY -> "1250"."""
    decimals = _DECIMALS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**decimals)
    return f"{sign}{whole}.{part:0{decimals}d}" if decimals else f"{sign}{whole}"


def _cells(line: Sales | MethodCash | CashTotal | HourCash | Reconciliation) -> dict[str, str]:
    cells: dict[str, str] = {}
    for field in line.__struct_fields__:
        value = getattr(line, field)
        if field in _MONEY:
            cells[field] = money(value, line.currency)
        elif isinstance(value, str):
            cells[field] = text(value)
        else:
            cells[field] = str(value)
    return cells


def write(header: Sequence[str], rows: Iterable[dict[str, str]]) -> str:
    """The table as CSV text; a row's missing columns are empty cells, and keys outside the
    header (a line's own name, already in `name`) are left out."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(header), restval="", extrasaction="ignore", lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _sales_rows(section: str, lines: Iterable[Sales]) -> list[dict[str, str]]:
    rows = []
    for line in lines:
        name = line.ticket_type if isinstance(line, TicketTypeSales) else "all"
        rows.append({"section": section, "name": text(name), **_cells(line)})
    return rows


def _money_rows(
    section: str, lines: Iterable[MethodCash | CashTotal | Reconciliation]
) -> list[dict[str, str]]:
    rows = []
    for line in lines:
        name = line.method if isinstance(line, MethodCash) else "all"
        rows.append({"section": section, "name": name, **_cells(line)})
    return rows


# Reconciliation rows put their gross in the sales gross column.
_SUMMARY = ["section", "name", *SALES, *CASH, *RECONCILED]


def day_csv(report: DayTakings) -> str:
    """Sections: ticket_type and sales_total (the day's bookings), method and cash_total (the
    day's money), hour (money per local hour), reconciliation."""
    header = ["venue", "day", *_SUMMARY]
    rows = [
        *_sales_rows("ticket_type", report.ticket_types),
        *_sales_rows("sales_total", report.sales_totals),
        *_money_rows("method", report.cash),
        *_money_rows("cash_total", report.cash_totals),
        *({"section": "hour", "name": hour.local_start, **_cells(hour)} for hour in report.by_hour),
        *_money_rows("reconciliation", report.reconciliation),
    ]
    common = {"venue": text(report.venue_name), "day": report.day.isoformat()}
    return write(header, ({**common, **row} for row in rows))


def screening_csv(report: ScreeningTakings) -> str:
    header = ["film", "date", "time", "auditorium", *_SUMMARY]
    rows = [
        *_sales_rows("ticket_type", report.ticket_types),
        *_sales_rows("sales_total", report.sales_totals),
        *_money_rows("method", report.cash),
        *_money_rows("cash_total", report.cash_totals),
        *_money_rows("reconciliation", report.reconciliation),
    ]
    common = {
        "film": text(report.film_title),
        "date": report.local_date.isoformat(),
        "time": report.local_start,
        "auditorium": text(report.auditorium_name),
    }
    return write(header, ({**common, **row} for row in rows))


def film_week_csv(report: FilmWeekTakings) -> str:
    """The distributor's return: each screening's ticket types and total, then the week's."""
    header = ["film", "venue", "week_start", "week_end", "line", "date", "time", "auditorium",
              "ticket_type", *SALES]  # fmt: skip
    common = {
        "film": text(report.film_title),
        "venue": text(report.venue_name),
        "week_start": report.week_start.isoformat(),
        "week_end": report.week_end.isoformat(),
    }
    rows: list[dict[str, str]] = []
    for show in report.screenings:
        where = {
            "date": show.local_date.isoformat(),
            "time": show.local_start,
            "auditorium": text(show.auditorium_name),
        }
        rows += [_line("screening", line, where) for line in show.ticket_types]
        rows += [_line("screening total", line, where) for line in show.totals]
    rows += [_line("week", line, {}) for line in report.ticket_types]
    rows += [_line("week total", line, {}) for line in report.totals]
    return write(header, ({**common, **row} for row in rows))


def _line(kind: str, line: Sales, where: dict[str, str]) -> dict[str, str]:
    ticket_type = line.ticket_type if isinstance(line, TicketTypeSales) else "all"
    return {"line": kind, **where, "ticket_type": text(ticket_type), **_cells(line)}
