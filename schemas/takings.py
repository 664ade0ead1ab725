"""The takings reports (docs/money.md, "Takings"): what was sold (the booked seat lines of
confirmed bookings, by ticket type) and what moved in cash (payments less refunds, by method),
and the reconciliation between the two. Every amount is an integer in minor units; each line
carries its currency (a venue normally sells in one)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

import msgspec

ReportFormat = Literal["json", "csv"]
PaymentMethod = Literal["provider", "cash", "card", "voucher", "other"]


class Sales(msgspec.Struct, frozen=True, kw_only=True):
    """Booked seat lines summed: `gross` is what patrons were charged for them (list price less
    discount plus fee); `tax` the tax included in gross; `net_of_tax` = gross - tax."""

    currency: str
    admissions: int
    list_price: int
    discount: int
    fee: int
    gross: int
    tax: int
    net_of_tax: int


class TicketTypeSales(Sales, frozen=True, kw_only=True):
    ticket_type: str


class MethodCash(msgspec.Struct, frozen=True, kw_only=True):
    """Payments and refunds of one method and currency; `net` = paid - refunded."""

    method: PaymentMethod
    currency: str
    paid: int
    refunded: int
    net: int


class CashTotal(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    paid: int
    refunded: int
    net: int


class HourCash(msgspec.Struct, frozen=True, kw_only=True):
    """The money of one hour of the venue's day (only hours where money moved)."""

    starts_at: datetime
    local_start: str
    currency: str
    paid: int
    refunded: int
    net: int


class Reconciliation(msgspec.Struct, frozen=True, kw_only=True):
    """Sales and cash over the same bookings, whenever the money moved:
    `gross - unpaid + overpaid + refund_due = net_cash`, exactly. `unpaid`: what confirmed
    bookings still owe (paid at the till later, or never); `overpaid`: paid beyond a confirmed
    booking's total; `refund_due`: money kept on cancelled or "paid, not seated" bookings (or
    paid in another currency than the booking's), not refunded yet."""

    currency: str
    gross: int
    unpaid: int
    overpaid: int
    refund_due: int
    net_cash: int


class DayTakings(msgspec.Struct, frozen=True, kw_only=True):
    """A venue's day, midnight to midnight in its time zone (`starts_at` <= t < `ends_at`):
    `cash` the payments and refunds recorded in it, by method; `ticket_types` the seat lines of
    the bookings made in it that are confirmed now; `reconciliation` ties those bookings' sales
    to all their money, recorded on that day or later."""

    venue_id: UUID
    venue_name: str
    time_zone: str
    day: date
    starts_at: datetime
    ends_at: datetime
    as_of: datetime
    cash: list[MethodCash]
    cash_totals: list[CashTotal]
    by_hour: list[HourCash]
    ticket_types: list[TicketTypeSales]
    sales_totals: list[Sales]
    reconciliation: list[Reconciliation]


class ScreeningTakings(msgspec.Struct, frozen=True, kw_only=True):
    """One screening: its confirmed seat lines by ticket type, and all money on its bookings."""

    screening_id: UUID
    film_id: UUID
    film_title: str
    venue_id: UUID
    venue_name: str
    auditorium_name: str
    starts_at: datetime
    local_date: date
    local_start: str
    as_of: datetime
    ticket_types: list[TicketTypeSales]
    sales_totals: list[Sales]
    cash: list[MethodCash]
    cash_totals: list[CashTotal]
    reconciliation: list[Reconciliation]


class ScreeningSales(msgspec.Struct, frozen=True, kw_only=True):
    """One screening of the film week, as a distributor's return lists it."""

    screening_id: UUID
    starts_at: datetime
    local_date: date
    local_start: str
    auditorium_name: str
    ticket_types: list[TicketTypeSales]
    totals: list[Sales]


class FilmWeekTakings(msgspec.Struct, frozen=True, kw_only=True):
    """A film's week at a venue in the shape a distributor asks for: admissions and gross by
    ticket type, per screening and for the week, tax apart and net of tax. The week runs
    Friday to Thursday (`week_start` a Friday, `week_end` the Thursday after), by the venue's
    local date of each screening's start."""

    film_id: UUID
    film_title: str
    venue_id: UUID
    venue_name: str
    week_start: date
    week_end: date
    as_of: datetime
    screenings: list[ScreeningSales]
    ticket_types: list[TicketTypeSales]
    totals: list[Sales]
    reconciliation: list[Reconciliation]


class RefundDue(msgspec.Struct, frozen=True, kw_only=True):
    """A cancelled or "paid, not seated" booking that still holds money: `due` = paid -
    refunded. `refund_due` is the staff's decision when cancelling (false: no refund was
    promised); the money is listed either way until a refund is recorded."""

    booking_id: UUID
    reference: str
    status: Literal["cancelled", "unseated"]
    patron_name: str
    screening_id: UUID
    film_title: str
    starts_at: datetime
    currency: str
    paid: int
    refunded: int
    due: int
    refund_due: bool
    cancelled_at: datetime | None
