"""The staff page's "Paid after expiry" section in a real headless Chromium against a real API
server: a patron paid after their hold ended and a rival took a seat; staff seat one such
booking on seats they choose and record the refund of another, each once."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from tests.axe import assert_accessible
from tests.integration.money.helpers import unseated_booking
from tests.integration.staff.conftest import ARTIFACTS, Live
from tests.integration.staff.test_browser import (  # the page's fixtures
    _sign_in,
    browser,
    expected_console_errors,
    page,
)

__all__ = ["browser", "expected_console_errors", "page"]
pytestmark = pytest.mark.browser


async def test_staff_seat_one_unseated_booking_and_refund_another(
    page, live: Live, small: UUID, demo: asyncpg.Pool
):
    seat_me = await unseated_booking(demo, small, ["E1", "E2"], "paid-late-1")
    refund_me = await unseated_booking(demo, small, ["F1"], "paid-late-2")
    await _sign_in(page)
    section = page.locator("#unseated")
    await page.wait_for_selector(f'#unseated li[data-reference="{seat_me}"]')
    await page.wait_for_selector(f'#unseated li[data-reference="{refund_me}"]')
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "staff-unseated.png"), full_page=True)
    await assert_accessible(page, "the paid-after-expiry list")

    item = section.locator(f'li[data-reference="{seat_me}"]')
    await item.get_by_label("Seats (2)").fill("G7, G8")
    await item.get_by_role("button", name="Seat them").click()
    await page.wait_for_selector(f"#unseated-message:has-text('Booking {seat_me} is seated.')")
    await page.wait_for_selector(f'#unseated li[data-reference="{seat_me}"]', state="detached")

    item = section.locator(f'li[data-reference="{refund_me}"]')
    await item.get_by_role("button", name="Record refund").click()
    await page.wait_for_selector(f"#unseated-message:has-text('recorded for {refund_me}')")
    await page.wait_for_selector(f'#unseated li[data-reference="{refund_me}"]', state="detached")

    rows = {
        r["reference"]: r
        for r in await demo.fetch("SELECT reference, status, paid, refunded FROM booking")
    }
    assert rows[seat_me]["status"] == "confirmed"
    assert (rows[refund_me]["status"], rows[refund_me]["refunded"]) == (
        "unseated",
        rows[refund_me]["paid"],
    )
    seats = await demo.fetch(
        "SELECT s.label FROM booking_seat bs JOIN seat s ON s.id = bs.seat_id"
        " JOIN booking b ON b.id = bs.booking_id WHERE b.reference = $1 ORDER BY s.label",
        seat_me,
    )
    assert [s["label"] for s in seats] == ["G7", "G8"]
    assert await demo.fetchval("SELECT count(*) FROM refund") == 1
