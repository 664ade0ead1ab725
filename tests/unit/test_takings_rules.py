"""The takings calendar and CSV cells: a venue's day is its local midnight to the next (23 or
25 hours when the clocks change), the film week runs Friday to Thursday, amounts print in the
currency's decimals, and no text cell starts a formula."""

from __future__ import annotations

from datetime import date, timedelta

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
