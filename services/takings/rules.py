"""The takings reports' arithmetic and calendar, pure: a venue's day and film week as instants,
and the sums of seat lines and of money (docs/money.md, "Takings")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from schemas.takings import CashTotal, MethodCash, PaymentMethod, Sales, TicketTypeSales
from services.errors import InvalidParameter

# The film week runs Friday to Thursday, as distributors count it in most markets (the UK, the
# US, Germany, Belgium...; France counts Wednesday to Tuesday): date.weekday() of its first day.
FILM_WEEK_STARTS = 4  # Friday
# Days the reports take: wide enough for any cinema's books, narrow enough that a local
# midnight never falls off the calendar (datetime's year 1 or 9999).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)
# Methods in the order the reports list them.
METHODS: tuple[PaymentMethod, ...] = ("cash", "card", "provider", "voucher", "other")


class SeatLines(msgspec.Struct, frozen=True, kw_only=True):
    """Booked seat lines of confirmed bookings summed per screening, ticket type and currency."""

    screening_id: UUID
    ticket_type: str
    currency: str
    admissions: int
    list_price: int
    discount: int
    fee: int
    gross: int
    tax: int


class CashSum(msgspec.Struct, frozen=True, kw_only=True):
    method: PaymentMethod
    currency: str
    paid: int
    refunded: int


def check_day(day: date, field: str) -> date:
    """A report's day within the calendar the reports cover (a 400 naming `field` otherwise)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidParameter(
            f"{field} must be between {FIRST_DAY} and {LAST_DAY}",
            field=field,
            reason="out of range",
        )
    return day


def local_midnight(day: date, time_zone: str) -> datetime:
    """The instant `day` starts in `time_zone` (in UTC). Where a clock change skips midnight,
    the first instant after the gap (zoneinfo's fold rules)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a venue's local day: 23 or 25 hours long on the days the clocks change."""
    return local_midnight(day, time_zone), local_midnight(day + timedelta(days=1), time_zone)


def film_week(day: date) -> tuple[date, date]:
    """The film week holding `day`: (its Friday, the Thursday after)."""
    start = day - timedelta(days=(day.weekday() - FILM_WEEK_STARTS) % 7)
    return start, start + timedelta(days=6)


def local_clock(at: datetime, time_zone: str) -> tuple[date, str]:
    """An instant as the venue's local date and `HH:MM`."""
    local = at.astimezone(ZoneInfo(time_zone))
    return local.date(), local.strftime("%H:%M")


_SUMMED = ("admissions", "list_price", "discount", "fee", "gross", "tax")


def _sums(lines: Iterable[SeatLines | Sales]) -> dict[str, int]:
    sums = dict.fromkeys(_SUMMED, 0)
    for line in lines:
        for key in _SUMMED:
            sums[key] += getattr(line, key)
    return sums


def by_ticket_type(lines: Iterable[SeatLines]) -> list[TicketTypeSales]:
    """Seat lines summed per ticket type and currency, ordered by currency then ticket type;
    `net_of_tax` = gross - tax."""
    groups: dict[tuple[str, str], list[SeatLines]] = {}
    for line in lines:
        groups.setdefault((line.currency, line.ticket_type), []).append(line)
    result = []
    for (currency, ticket_type), group in sorted(groups.items()):
        sums = _sums(group)
        net = sums["gross"] - sums["tax"]
        result.append(
            TicketTypeSales(ticket_type=ticket_type, currency=currency, net_of_tax=net, **sums)
        )
    return result


def sales_totals(lines: Iterable[Sales]) -> list[Sales]:
    """Lines summed per currency (one total per currency, in currency order)."""
    groups: dict[str, list[Sales]] = {}
    for line in lines:
        groups.setdefault(line.currency, []).append(line)
    result = []
    for currency, group in sorted(groups.items()):
        sums = _sums(group)
        result.append(Sales(currency=currency, net_of_tax=sums["gross"] - sums["tax"], **sums))
    return result


def by_method(sums: Iterable[CashSum]) -> list[MethodCash]:
    """Payments and refunds per method and currency; `net` = paid - refunded."""
    merged: dict[tuple[str, PaymentMethod], list[int]] = {}
    for item in sums:
        pair = merged.setdefault((item.currency, item.method), [0, 0])
        pair[0] += item.paid
        pair[1] += item.refunded
    order = {method: n for n, method in enumerate(METHODS)}
    return [
        MethodCash(
            method=method, currency=currency, paid=paid, refunded=refunded, net=paid - refunded
        )
        for (currency, method), (paid, refunded) in sorted(
            merged.items(), key=lambda item: (item[0][0], order[item[0][1]])
        )
    ]


def cash_totals(lines: Iterable[MethodCash]) -> list[CashTotal]:
    totals: dict[str, list[int]] = {}
    for line in lines:
        pair = totals.setdefault(line.currency, [0, 0])
        pair[0] += line.paid
        pair[1] += line.refunded
    return [
        CashTotal(currency=currency, paid=paid, refunded=refunded, net=paid - refunded)
        for currency, (paid, refunded) in sorted(totals.items())
    ]
