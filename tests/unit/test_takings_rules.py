"""The takings calendar and CSV cells: a venue's day is its local midnight to the next (23 or
25 hours when the clocks change), the film week runs Friday to Thursday, amounts print in the
currency's decimals, and no text cell starts a formula."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import InvalidParameter
from services.takings import rules, sheets


@pytest.mark.parametrize(
    ("day", "zone", "hours"),
    [
        (date(2026, 3, 8), "America/New_York", 23),
        (date(2026, 11, 1), "America/New_York", 25),
        (date(2026, 3, 29), "Europe/Brussels", 23),
        (date(2026, 10, 25), "Europe/Brussels", 25),
        (date(2026, 6, 1), "Asia/Kolkata", 24),
        (date(2026, 6, 1), "UTC", 24),
    ],
)
def test_a_day_runs_from_local_midnight_to_local_midnight(day: date, zone: str, hours: int) -> None:
    start, end = rules.day_bounds(day, zone)
    assert end - start == timedelta(hours=hours)
    assert rules.local_clock(start, zone) == (day, "00:00")
    assert rules.local_clock(end, zone) == (day + timedelta(days=1), "00:00")


def test_where_a_clock_change_skips_midnight_the_day_starts_after_the_gap() -> None:
    # Chile's clocks go from 00:00 straight to 01:00 on 6 September 2026.
    start, end = rules.day_bounds(date(2026, 9, 6), "America/Santiago")
    assert rules.local_clock(start, "America/Santiago") == (date(2026, 9, 6), "01:00")
    assert end - start == timedelta(hours=23)
    assert rules.day_bounds(date(2026, 9, 5), "America/Santiago")[1] == start  # no gap, no overlap


@given(st.dates(min_value=rules.FIRST_DAY, max_value=rules.LAST_DAY))
def test_the_film_week_is_friday_to_thursday_and_holds_the_day(day: date) -> None:
    start, end = rules.film_week(day)
    assert start.weekday() == 4  # Friday
    assert end.weekday() == 3  # Thursday
    assert start <= day <= end
    assert end - start == timedelta(days=6)


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1999, 12, 31), date(2200, 1, 1), date.max])
def test_days_off_the_reports_calendar_are_refused_naming_the_field(day: date) -> None:
    with pytest.raises(InvalidParameter) as refused:
        rules.check_day(day, "date")
    assert refused.value.extra["errors"][0]["field"] == "date"


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [(1250, "EUR", "12.50"), (5, "USD", "0.05"), (-1250, "EUR", "-12.50"), (1250, "JPY", "1250"),
     (1250, "KWD", "1.250"), (0, "EUR", "0.00"), (-5, "USD", "-0.05")],
)  # fmt: skip
def test_amounts_print_in_the_currencys_decimals(minor: int, currency: str, shown: str) -> None:
    assert sheets.money(minor, currency) == shown


@given(st.text())
def test_no_text_cell_starts_a_formula(value: str) -> None:
    cell = sheets.text(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
    assert cell in (value, f"'{value}")


_LINE = st.builds(
    rules.SeatLines,
    screening_id=st.sampled_from([UUID(int=1), UUID(int=2)]),
    ticket_type=st.sampled_from(["adult", "child", "=1+1"]),
    currency=st.sampled_from(["EUR", "USD"]),
    admissions=st.integers(0, 500),
    list_price=st.integers(0, 10**7),
    discount=st.integers(0, 10**6),
    fee=st.integers(0, 10**5),
    gross=st.integers(0, 10**7),
    tax=st.integers(0, 10**6),
)


@given(st.lists(_LINE, max_size=30))
def test_ticket_types_and_totals_sum_every_line_once(lines: list[rules.SeatLines]) -> None:
    types = rules.by_ticket_type(lines)
    totals = rules.sales_totals(types)
    assert {(t.currency, t.ticket_type) for t in types} == {
        (line.currency, line.ticket_type) for line in lines
    }
    for total in totals:
        mine = [line for line in lines if line.currency == total.currency]
        for key in ("admissions", "list_price", "discount", "fee", "gross", "tax"):
            assert getattr(total, key) == sum(getattr(line, key) for line in mine)
        assert total.net_of_tax == total.gross - total.tax
    assert sorted(t.currency for t in totals) == sorted({line.currency for line in lines})


@given(
    st.lists(
        st.builds(
            rules.CashSum,
            method=st.sampled_from(rules.METHODS),
            currency=st.sampled_from(["EUR", "USD"]),
            paid=st.integers(0, 10**7),
            refunded=st.integers(0, 10**7),
        ),
        max_size=20,
    )
)
def test_cash_by_method_keeps_every_cent(sums: list[rules.CashSum]) -> None:
    lines = rules.by_method(sums)
    assert len({(x.currency, x.method) for x in lines}) == len(lines)
    for total in rules.cash_totals(lines):
        assert total.paid == sum(x.paid for x in sums if x.currency == total.currency)
        assert total.refunded == sum(x.refunded for x in sums if x.currency == total.currency)
        assert total.net == total.paid - total.refunded
