"""The door page in Debian's Chromium (Playwright) against a real API server and relay: a typed
code admits and a second scan shows "already admitted"; with the network cut in the middle of a
scan (the request reached the server, the answer never came back), the scan finishes offline
and is uploaded once, with its nonce, when the network returns; axe-core finds no violation."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from services.demo import DEMO_STAFF
from tests.integration.door.helpers import book, code_of
from tests.integration.staff.conftest import ARTIFACTS, Live
from tests.integration.staff.test_browser import browser  # noqa: F401  (Debian's chromium)

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[2] / "node" / "node_modules" / "axe-core" / "axe.min.js"


def _axe_source() -> str:
    """axe-core (the npm package, pinned in tests/node), installed there by `npm ci` if missing."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("axe-core is not installed and npm is missing")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE.parents[2], check=True)
    return AXE.read_text(encoding="utf-8")


async def _axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it is."""
    await page.evaluate(await asyncio.to_thread(_axe_source))
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map((v) => v.id + ': ' + v.help + ' -- ' + v.nodes.map((n) => n.target).join(' | '))"
    )
    return list(found)


async def test_the_door_page_admits_refuses_and_scans_through_a_network_cut(
    browser,  # noqa: F811
    live: Live,
    client,
    tonight: UUID,
    demo: asyncpg.Pool,
):
    booking = await book(client, tonight, ["D4", "D5"])
    context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    uploads: list[str] = []
    page.on("requestfinished", lambda r: uploads.append(r.url) if "/uploads" in r.url else None)
    await page.goto(f"{live.url}/staff/door")
    assert await _axe_violations(page) == []
    await page.get_by_label("E-mail").fill(DEMO_STAFF[0])
    await page.get_by_label("Password").fill(DEMO_STAFF[1])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("Screening", exact=True).select_option(str(tonight))
    await page.get_by_label("Door", exact=True).fill("Side door")
    await page.get_by_role("button", name="Start scanning").click()
    await page.wait_for_selector("#scanner:not([hidden])")

    code = page.get_by_label("Ticket code", exact=True)
    await code.fill(code_of(booking, 1))
    await code.press("Enter")
    await page.wait_for_selector("#answer[data-kind='admit']")
    assert "D4" in await page.locator("#answer").inner_text()
    await code.fill(code_of(booking, 1))
    await code.press("Enter")
    await page.wait_for_selector("#answer[data-kind='already']")
    assert "Already admitted" in await page.locator("#answer").inner_text()
    assert await _axe_violations(page) == []

    async def cut(route):  # the scan reaches the server, its answer never comes back
        await route.fetch()
        await context.set_offline(True)
        await route.abort()

    await page.route("**/v1/door/scans", cut)
    await code.fill(code_of(booking, 2))
    await code.press("Enter")
    await page.wait_for_selector("#answer[data-kind='admit']")
    assert "D5" in await page.locator("#answer").inner_text()
    banner = page.locator("#offline-banner")
    await banner.wait_for()
    assert "1 scan waits" in await banner.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "door-offline.png"))
    async with page.expect_event("requestfailed", lambda r: "/uploads" in r.url, timeout=10_000):
        pass  # an upload tried while the network is down, and failed
    await page.unroute("**/v1/door/scans")
    await context.set_offline(False)
    await page.wait_for_selector("#mode[data-mode='online']", timeout=10_000)
    assert await banner.is_hidden()

    assert len(uploads) == 1  # uploaded once
    async with demo.acquire() as conn:
        rows = await conn.fetch(
            "SELECT s.label FROM admission a JOIN seat s ON s.id = a.seat_id"
            " WHERE a.undone_at IS NULL ORDER BY s.label"
        )
        nonces = await conn.fetchval(
            "SELECT count(*) FROM door_scan WHERE door = 'Side door' AND mode = 'online'"
        )
    assert [row["label"] for row in rows] == ["D4", "D5"]  # D5 once, not twice
    assert nonces == 3  # the cut scan's nonce: recorded online once, its upload a replay
    await context.close()
    assert errors == []
