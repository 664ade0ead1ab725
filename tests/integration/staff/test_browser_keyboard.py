"""The staff page by keyboard and by ear, in the same real Chromium, API server and relay as
test_browser.py: a walk through the page with Tab, the seat map worked with the arrow keys,
seats blocked, unblocked and holds released by keyboard with the focus landing somewhere
sensible after each (never on the page's body, even when the control that had it goes away);
what a screen reader hears of live updates (one summary per burst); the page at 320 px wide
with no sideways scrolling; a key for the seat kinds; the activity log in the venue's time.
axe-core checks every state visited."""

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from services.demo import DEMO_STAFF, TIME_ZONE
from tests.axe import assert_accessible
from tests.integration.box_office.helpers import confirm_body
from tests.integration.staff import test_browser
from tests.integration.staff.conftest import ARTIFACTS, Live
from tests.integration.staff.test_browser import BROWSER_ZONE, _seat, _sign_in, _tab_to

pytestmark = pytest.mark.browser

# The browser and its page, as test_browser.py makes them.
browser = test_browser.browser
page = test_browser.page
expected_console_errors = test_browser.expected_console_errors

FOCUSED = """
(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "body";
  const seat = e.dataset.label && `seat ${e.dataset.label}`;
  return e.id || e.dataset.focusKey || seat || e.outerHTML.slice(0, 60);
})()
"""


async def _focused(page) -> str:
    return await page.evaluate(FOCUSED)


async def _hold(http: httpx.AsyncClient, screening: UUID, seats: list[str], **extra) -> dict:
    made = await http.post(f"/v1/screenings/{screening}/holds", json={"seats": seats, **extra})
    assert made.status_code == 201, made.text
    return made.json()


async def _walk(page, limit: int = 80) -> list[str]:
    """Tab from the top of the page until the focus comes round again: each stop's name."""
    await page.focus(".skip-link")  # where Tab from the top of the page goes first
    stops: list[str] = []
    for step in range(limit):
        if step:
            await page.keyboard.press("Tab")
        stop = await page.evaluate(
            "(() => { const e = document.activeElement;"
            " if (!e || e === document.body) return null;"
            " const s = getComputedStyle(e);"
            " return [e.id || e.dataset.focusKey || e.dataset.label || e.textContent.trim(),"
            " e.checkVisibility(),"
            " s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2]; })()"
        )
        if stop is None or (stops and stop[0] == stops[0]):
            break
        name, visible, outlined = stop
        assert visible, f"the focus went to {name}, which cannot be seen"
        assert outlined, f"the focus on {name} is not visible"
        stops.append(name)
    return stops


async def test_the_keyboard_walk_and_where_the_focus_lands_after_each_action(
    page, live: Live, small: UUID
):
    ARTIFACTS.mkdir(exist_ok=True)
    async with httpx.AsyncClient(base_url=live.url) as http:
        patron = await _hold(http, small, ["C1"])
        first, second = await _hold(http, small, ["D1"]), await _hold(http, small, ["E1"])
        booked = await _hold(http, small, ["D4"])
        confirmed = await http.post(
            f"/v1/holds/{booked['id']}/confirm",
            json=confirm_body(["D4"]),
            headers={"X-Hold-Token": booked["token"], "Idempotency-Key": "walk"},
        )
        assert confirmed.status_code == 201, confirmed.text
        reference = confirmed.json()["reference"]

    # Signed in by keyboard, the page opens on the first day with something on.
    await page.keyboard.type(DEMO_STAFF[0])
    await page.keyboard.press("Tab")
    await page.keyboard.type(DEMO_STAFF[1])
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#dashboard:not([hidden]) button.screening")
    assert await _focused(page) == "programme-title"
    assert await page.locator("#programme-empty").is_hidden()
    assert await page.get_attribute("#day-previous", "aria-disabled") == "true"  # the first day
    first_day = await page.input_value("#day")

    # The first day has no day before it: the button keeps the focus, nothing else happens.
    await _tab_to(page, "#day-previous")
    await page.keyboard.press("Enter")
    assert await _focused(page) == "day-previous"
    # Next day to the programme's end: the focus stays on the button all the way.
    await _tab_to(page, "#day-next")
    day = await page.input_value("#day")
    for _ in range(10):
        if await page.get_attribute("#day-next", "aria-disabled") == "true":
            break
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "(day) => document.getElementById('day').value !== day", arg=day
        )
        day = await page.input_value("#day")
        assert await _focused(page) == "day-next"
    else:
        raise AssertionError("Next day never reached the programme's end")
    await page.keyboard.press("Enter")
    assert await _focused(page) == "day-next"
    await assert_accessible(page, "the programme's last day")
    await page.fill("#day", first_day)  # back to the first day
    await page.wait_for_selector(f'button.screening[data-screening="{small}"]')

    await _tab_to(page, f'button.screening[data-screening="{small}"]')
    await page.keyboard.press("Enter")
    await page.wait_for_selector(_seat("C1", "held"))
    assert await _focused(page) == "board-title"
    await assert_accessible(page, "a screening open, three holds")

    # Tab through the whole page: every stop visible and outlined; the seat map is one stop.
    stops = await _walk(page)
    assert stops[0] == "Skip to content", stops[:3]
    seats = [stop for stop in stops if stop and stop[0].isalpha() and stop[1:].isdigit()]
    assert len(seats) == 1, f"the seat map takes {len(seats)} tab stops: {seats}"
    for expected in ("sign-out", "day-previous", "day", "day-next", f"release-{first['id']}"):
        assert expected in stops, (expected, stops)

    # Block a seat by keyboard: the focus comes back to the seat when the Block button goes.
    await _tab_to(page, "#seatmap button.seat")
    await page.keyboard.press("Control+Home")
    await page.keyboard.press("ArrowRight")
    assert await _focused(page) == "seat A2"
    await page.keyboard.press("Enter")
    await _tab_to(page, '#selection-actions button[data-focus-key="block"]')
    await page.keyboard.press("Enter")
    await page.wait_for_selector(_seat("A2", "blocked"))
    assert await _focused(page) == "seat A2"
    assert await page.inner_text("#action-message") == "Blocked A2."

    # Unblock it the same way.
    await page.keyboard.press("Space")
    await _tab_to(page, '#selection-actions button[data-focus-key="unblock"]')
    await page.keyboard.press("Enter")
    await page.wait_for_selector(_seat("A2", "available"))
    assert await _focused(page) == "seat A2"

    # Clear selection: the button goes, the focus comes back to the seat.
    await page.keyboard.press("Enter")
    await _tab_to(page, "#clear-selection")
    await assert_accessible(page, "a seat selected")
    await page.keyboard.press("Enter")
    assert await page.locator("#clear-selection").is_hidden()
    assert await _focused(page) == "seat A2"

    # Release the patron's hold on C1 from the selection, by keyboard.
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Home")
    assert await _focused(page) == "seat C1"
    await page.keyboard.press("Enter")
    await _tab_to(
        page, f'#selection-actions button[data-focus-key="release-selected-{patron["id"]}"]'
    )
    await page.keyboard.press("Enter")
    await page.wait_for_selector(_seat("C1", "available"))
    assert await _focused(page) == "seat C1"

    # Release D1 from the live holds: the focus moves to the next hold's Release button.
    await _tab_to(page, f'#holds button[data-focus-key="release-{first["id"]}"]')
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f'#holds tr[data-hold="{first["id"]}"]', state="detached")
    assert await _focused(page) == f"release-{second['id']}"

    # The patron releases E1 while staff have the focus on its Release button: the focus goes
    # to the live holds' heading, and the page says why.
    async with httpx.AsyncClient(base_url=live.url) as http:
        gone = await http.delete(
            f"/v1/holds/{second['id']}", headers={"X-Hold-Token": second["token"]}
        )
    assert gone.status_code in (200, 204), gone.text
    await page.wait_for_selector("#holds-empty:not([hidden])")
    assert await _focused(page) == "holds-title"
    await page.wait_for_selector("#announcer:has-text('1 hold released: E1.')")
    await assert_accessible(page, "every hold released")

    # Cancel D4's booking by keyboard: the dialog takes the focus, Escape gives it back to the
    # button that opened it; confirmed, the button goes and the focus comes back to the seat.
    await _tab_to(page, "#seatmap button.seat")
    assert await _focused(page) == "seat C1"
    await page.keyboard.press("ArrowDown")
    for _ in range(3):
        await page.keyboard.press("ArrowRight")
    assert await _focused(page) == "seat D4"
    await page.keyboard.press("Enter")
    await _tab_to(page, f'#selection-actions button[data-focus-key="cancel-{reference}"]')
    await page.keyboard.press("Enter")
    assert await _focused(page) == "cancel-reason"
    await assert_accessible(page, "the cancel dialog")
    await page.keyboard.press("Escape")
    assert await _focused(page) == f"cancel-{reference}"
    await page.keyboard.press("Enter")
    await _tab_to(page, "#cancel-confirm")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(_seat("D4", "available"))
    assert await _focused(page) == "seat D4"
    assert await page.inner_text("#action-message") == f"Booking {reference} cancelled."


# Records in window.said each thing the page gives screen readers to say.
LISTEN = """
() => {
  window.said = [];
  const region = document.getElementById("announcer");
  new MutationObserver(() => window.said.push(region.textContent)).observe(
    region, { childList: true, characterData: true, subtree: true });
}
"""


async def test_a_burst_of_holds_is_announced_once_and_expiry_is_announced(
    page, live: Live, small: UUID, demo: asyncpg.Pool
):
    await _sign_in(page)
    await page.locator(f'button.screening[data-screening="{small}"]').click()
    await page.wait_for_selector("#feed-status[data-state='live']")
    await page.wait_for_selector(_seat("J1", "available"))
    await page.evaluate(LISTEN)
    async with httpx.AsyncClient(base_url=live.url) as http:
        await asyncio.gather(
            _hold(http, small, ["J1", "J2"], wheelchair_spaces=1),
            _hold(http, small, ["F5"]),
            _hold(http, small, ["F6"]),
        )
    await page.wait_for_function("() => window.said.length > 0")
    said = await page.evaluate("window.said")
    # All three in the first thing said: one summary for the burst, not one per event.
    assert len(said) == 1, said
    assert said[0].startswith("3 holds made: "), said
    assert "J1, J2 (wheelchair)" in said[0]

    # A wheelchair hold is marked as one in the live holds.
    row = page.locator("#holds tr", has_text="J1, J2")
    assert "♿ 1 wheelchair space" in await row.inner_text()

    # F5's hold runs out in a few seconds: "expiring soon" when the page learns it, then
    # "expired" when its countdown reaches zero.
    await demo.execute(
        "UPDATE hold SET expires_at = now() + interval '4 seconds' WHERE $1 = ANY(seat_ids)",
        await demo.fetchval(
            "SELECT st.id FROM seat st JOIN screening s ON s.auditorium_id = st.auditorium_id"
            " WHERE s.id = $1 AND st.label = 'F5'",
            small,
        ),
    )
    await demo.execute(
        "UPDATE seat_claim SET expires_at = h.expires_at FROM hold h"
        " WHERE seat_claim.hold_id = h.id AND h.expires_at < now() + interval '1 minute'"
    )
    async with httpx.AsyncClient(base_url=live.url) as http:
        await _hold(http, small, ["A9"])  # an event: the page reads the board again
    await page.wait_for_function(
        "() => window.said.some((s) => s.includes('1 hold expiring soon: F5.'))"
    )
    await page.wait_for_function("() => window.said.some((s) => s.includes('1 hold expired: F5.'))")
    await page.wait_for_selector(_seat("F5", "available"))


# Lets a test cut the page's live feed (as a network outage would) and restore it: the page's
# own fetch(), wrapped before the page's scripts run.
DROPPABLE_FEED = """
(() => {
  const real = window.fetch.bind(window);
  const open = new Set();
  let cut = false;
  window.cutFeed = () => {
    cut = true;
    for (const controller of open) controller.abort();
    open.clear();
  };
  window.restoreFeed = () => { cut = false; };
  window.fetch = (input, init = {}) => {
    if (!String(input).includes("/v1/staff/events")) return real(input, init);
    if (cut) return Promise.reject(new TypeError("Failed to fetch"));
    const controller = new AbortController();
    init.signal?.addEventListener("abort", () => controller.abort());
    open.add(controller);
    return real(input, { ...init, signal: controller.signal });
  };
})();
"""


async def test_the_feeds_connection_is_announced_when_it_changes(page, live: Live, small: UUID):
    await page.add_init_script(DROPPABLE_FEED)
    await page.reload()
    await _sign_in(page)
    await page.wait_for_selector("#feed-status[data-state='live']")
    await page.evaluate(LISTEN)
    # The first connection is not news. The announcer speaks 0.8 s after the last news of a
    # burst: twice that with nothing said shows it said nothing.
    await page.wait_for_timeout(1600)
    assert await page.evaluate("() => window.said") == []
    await page.evaluate("() => window.cutFeed()")
    await page.wait_for_selector("#feed-status[data-state='off']")
    await page.wait_for_function(
        "() => document.getElementById('announcer').textContent"
        " === 'Live updates lost, reconnecting.'",
    )
    await page.evaluate("() => window.restoreFeed()")
    await page.wait_for_selector("#feed-status[data-state='live']")
    await page.wait_for_function(
        "() => document.getElementById('announcer').textContent === 'Live updates on.'",
    )
    # Each change said once, however many times the page tried to reconnect in between.
    said = await page.evaluate("() => window.said")
    assert said == ["Live updates lost, reconnecting.", "Live updates on."]


async def test_at_320_px_nothing_scrolls_sideways(page, live: Live, small: UUID, staff):
    await page.set_viewport_size({"width": 320, "height": 800})
    wide = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert await page.evaluate(wide) == 0
    await assert_accessible(page, "the sign-in form at 320 px")
    async with httpx.AsyncClient(base_url=live.url, headers=staff) as http:
        await _hold(http, small, ["J1", "J2"], wheelchair_spaces=1)
        await http.post(f"/v1/screenings/{small}/blocks", json={"seats": ["A3"]})
    await _sign_in(page)
    assert await page.evaluate(wide) == 0
    await page.locator(f'button.screening[data-screening="{small}"]').click()
    await page.wait_for_selector(_seat("J1", "held"))
    await page.locator('#seatmap button.seat[data-label="A3"]').click()
    async with httpx.AsyncClient(base_url=live.url) as http:
        await _hold(http, small, ["B2"])  # a line in the activity log
    await page.wait_for_selector("#activity-log li")
    assert await page.evaluate(wide) == 0
    await page.screenshot(path=str(ARTIFACTS / "staff-dashboard-320.png"), full_page=True)
    await assert_accessible(page, "a screening's board at 320 px")


KIND = """
(label) => {
  const seat = document.querySelector(`#seatmap button.seat[data-label="${label}"]`);
  const style = getComputedStyle(seat);
  return [getComputedStyle(seat, "::before").content, style.borderTopStyle, style.borderRadius];
}
"""


async def test_seat_kinds_have_a_key_a_mark_and_the_activity_is_in_the_venues_time(
    page, live: Live, small: UUID
):
    await _sign_in(page)
    await page.locator(f'button.screening[data-screening="{small}"]').click()
    await page.wait_for_selector(_seat("J1", "available"))
    legend = await page.inner_text(".legend")
    assert "Wheelchair space" in legend
    assert "Companion seat" in legend
    standard, wheelchair, companion = [await page.evaluate(KIND, x) for x in ("A1", "J1", "J2")]
    assert wheelchair[0] == '"♿"'  # a symbol, not only the round shape
    assert companion[0] == '"C"'
    assert standard[0] == "none"
    assert companion[1] != standard[1]  # a double edge
    assert wheelchair[2] != standard[2]
    assert "wheelchair space" in (await page.get_attribute(_seat("J1", "available"), "aria-label"))

    async with httpx.AsyncClient(base_url=live.url) as http:
        await _hold(http, small, ["B2"])
    when = page.locator("#activity-log li time").first
    await when.wait_for()
    occurred = datetime.fromisoformat(await when.get_attribute("datetime"))
    venue_time = occurred.astimezone(ZoneInfo(TIME_ZONE)).strftime("%H:%M:%S")
    browser_time = occurred.astimezone(ZoneInfo(BROWSER_ZONE)).strftime("%H:%M:%S")
    assert venue_time != browser_time
    assert await when.inner_text() == venue_time
