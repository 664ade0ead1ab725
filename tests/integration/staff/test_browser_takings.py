"""The staff page's takings panel in a real Chromium against a real server: today's money by
method and by hour (a chart for the eye, a table with the same figures), the sales by ticket
type, and the refunds due; its text passes WCAG AA contrast and axe-core finds no violation.
Bookings and payments are written as rows, at fixed figures (tests/integration/takings/books.py);
the booking is cancelled through the cancel endpoint."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest

from tests.axe import assert_accessible
from tests.integration.staff import test_browser
from tests.integration.staff.conftest import ARTIFACTS, Live
from tests.integration.staff.test_browser import CONTRAST, NAMES, _sign_in
from tests.integration.takings.books import Line, book, pay, refund

pytestmark = pytest.mark.browser

browser = test_browser.browser
page = test_browser.page
expected_console_errors = test_browser.expected_console_errors


async def _cells(page, body: str) -> list[list[str]]:
    """A table body's cells, read in one go (a refresh may replace its rows at any time)."""
    rows: list[list[str]] = await page.eval_on_selector_all(
        f"{body} tr", "rows => rows.map((row) => [...row.cells].map((cell) => cell.textContent))"
    )
    return rows


async def test_todays_takings_and_the_refunds_due_show_in_words_and_as_a_chart(
    page, live: Live, small: UUID, demo: asyncpg.Pool, client, staff: dict[str, str]
):
    now = datetime.now(UTC)
    async with demo.acquire() as conn:
        venue_id = await conn.fetchval("SELECT venue_id FROM screening WHERE id = $1", small)
        seats = await conn.fetch(
            "SELECT st.id FROM seat st JOIN screening s ON s.auditorium_id = st.auditorium_id"
            " WHERE s.id = $1 ORDER BY st.id LIMIT 3",
            small,
        )
        staff_id = await conn.fetchval("SELECT id FROM staff_user LIMIT 1")
        kept = await book(
            conn,
            small,
            venue_id,
            [
                Line(seats[0]["id"], "adult", 1200, 0, 100, 600),
                Line(seats[1]["id"], "child", 800, 0, 100, 600),
            ],
            now,
        )
        await pay(conn, kept, "cash", 1000, now)
        await pay(conn, kept, "card", 1200, now)
        gone = await book(
            conn, small, venue_id, [Line(seats[2]["id"], "adult", 1200, 0, 0, 600)], now
        )
        await pay(conn, gone, "provider", 1200, now)
        await refund(conn, gone, "provider", 200, now, staff_id)
    cancelled = await client.post(
        f"/v1/bookings/{gone.reference}/cancel", json={"refund": True}, headers=staff
    )
    assert cancelled.status_code == 200, cancelled.text
    await _sign_in(page)
    summary = page.locator("#takings-summary")
    # waited for by its locator: a string predicate is eval'd in the page, which its CSP forbids
    await page.locator("#takings-summary", has_text=re.compile(r"^Taken")).wait_for()
    # 1000 + 1200 + 1200 paid, 200 refunded
    assert await summary.inner_text() == "Taken $32.00 (paid $34.00, refunded $2.00)"
    methods = await page.locator("#takings-methods li").all_inner_texts()
    assert methods == ["Cash: $10.00", "Card: $12.00", "Online: $10.00"]
    # The chart draws every hour of the venue's day; the table gives the hour that had money.
    assert await page.locator("#takings-chart .hour").count() in (23, 24, 25)
    assert await page.locator("#takings-hours-table").is_visible()
    (hour,) = await _cells(page, "#takings-hours")
    assert hour[1:] == ["$34.00", "$2.00", "$32.00"]
    assert await _cells(page, "#takings-types") == [
        ["adult", "1", "$13.00", "$0.74"],
        ["child", "1", "$9.00", "$0.51"],
    ]
    (due,) = await _cells(page, "#refunds-due")
    assert due[0] == gone.reference
    assert due[3] == "cancelled"
    assert due[4] == "$10.00 of $12.00"
    await page.locator("#takings").screenshot(path=str(ARTIFACTS / "takings-panel.png"))
    assert await page.evaluate(CONTRAST) == []
    assert await page.evaluate(NAMES) == []
    await assert_accessible(page, "the takings panel with money, sales and a refund due")
