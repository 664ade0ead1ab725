"""The door page's camera and its sounds, in Debian's Chromium against a real API server.

The camera is Chromium's fake capture device playing a video file that shows a real ticket's QR
code (written here, from the code the booking's email carries). Debian's Chromium has no
BarcodeDetector on Linux, so the page is given one that decodes the real frames with jsQR (the
npm package, pinned in tests/node like axe-core): the page's own camera path (getUserMedia, the
video, its detect loop, the scan) admits the ticket, and when the camera still sees it a few
seconds later, answers "already admitted". Every tone the page plays goes through the real
AudioContext and is noted on the way: each answer (admit, already admitted, refused) has a
sound of its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import segno

from services.demo import DEMO_STAFF
from tests.axe import NODE, assert_accessible
from tests.integration.door.helpers import book, code_of
from tests.integration.staff.conftest import ARTIFACTS, Live
from tests.integration.staff.test_browser import ARGS, CHROMIUM, HAVE_CHROMIUM

pytestmark = pytest.mark.browser
JSQR = NODE / "node_modules" / "jsqr" / "dist" / "jsQR.js"

# A BarcodeDetector (the part of the Shape Detection API the page uses) over jsQR: each call
# draws the video's current frame and decodes it.
DETECTOR = """
window.BarcodeDetector = class BarcodeDetector {
  constructor(options) { this.formats = (options && options.formats) || ["qr_code"]; }
  static async getSupportedFormats() { return ["qr_code"]; }
  async detect(source) {
    const width = source.videoWidth, height = source.videoHeight;
    if (!width || !height) return [];
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(source, 0, 0, width, height);
    const found = jsQR(context.getImageData(0, 0, width, height).data, width, height);
    window.__frames = (window.__frames || 0) + 1;
    return found ? [{ rawValue: found.data, format: "qr_code", cornerPoints: [] }] : [];
  }
};
"""
# Every oscillator the page starts, noted (frequency, start and length from now, the context's
# state) before the real one plays.
SOUNDS = """
window.__tones = [];
const realStart = OscillatorNode.prototype.start;
const realStop = OscillatorNode.prototype.stop;
OscillatorNode.prototype.start = function (when) {
  const now = this.context.currentTime;
  this.__tone = { hz: this.frequency.value, at: (when || 0) - now, state: this.context.state };
  window.__tones.push(this.__tone);
  return realStart.apply(this, arguments);
};
OscillatorNode.prototype.stop = function (when) {
  if (this.__tone) this.__tone.seconds = (when || 0) - this.context.currentTime - this.__tone.at;
  return realStop.apply(this, arguments);
};
"""


def jsqr_source() -> str:
    """jsQR from tests/node, installed there by `npm ci` if missing."""
    if not JSQR.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("jsQR is not installed (run `npm ci` in tests/node) and npm is missing")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE, check=True
        )
    return JSQR.read_text(encoding="utf-8")


def write_video(path: Path, text: str, width: int = 640, height: int = 480) -> None:
    """A Y4M video (what Chromium's fake camera plays) of a few frames showing `text` as a QR
    code, black on white, as a phone held up to the door's camera shows it."""
    qr = segno.make_qr(text)
    matrix = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
    scale = min(width, height) * 9 // 10 // len(matrix)
    left, top = (width - len(matrix) * scale) // 2, (height - len(matrix) * scale) // 2
    luma = bytearray([235]) * (width * height)
    for y, row in enumerate(matrix):
        line = bytes(16 if dark else 235 for dark in row for _ in range(scale))
        for dy in range(scale):
            start = (top + y * scale + dy) * width + left
            luma[start : start + len(line)] = line
    chroma = bytes([128]) * (width // 2 * height // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 5)


async def tones(page: Any) -> list[dict[str, Any]]:
    """The tones played since the last call."""
    played: list[dict[str, Any]] = await page.evaluate(
        "() => { const t = window.__tones; window.__tones = []; return t; }"
    )
    return played


def sound(played: list[dict[str, Any]]) -> tuple[tuple[float, float, float], ...]:
    """What a listener tells apart: each tone's pitch, when it starts and how long it lasts."""
    assert played, "no sound was played"
    assert all(t["state"] == "running" for t in played), played  # heard, not held back
    return tuple((t["hz"], round(t["at"], 2), round(t["seconds"], 2)) for t in played)


@pytest.mark.skipif(not HAVE_CHROMIUM, reason="Debian's chromium is not installed")
async def test_the_camera_admits_a_ticket_and_each_answer_sounds_different(
    live: Live, client: Any, tonight: UUID, demo: asyncpg.Pool, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    booking = await book(client, tonight, ["E7"])
    video = tmp_path / "ticket.y4m"
    write_video(video, code_of(booking, 1))
    camera = [
        "--use-fake-ui-for-media-stream",  # the camera is allowed without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*ARGS, *camera]
        )
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            await context.add_init_script(jsqr_source() + DETECTOR + SOUNDS)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{live.url}/staff/door")
            await page.get_by_label("E-mail").fill(DEMO_STAFF[0])
            await page.get_by_label("Password").fill(DEMO_STAFF[1])
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_label("Screening", exact=True).select_option(str(tonight))
            await page.get_by_label("Door", exact=True).fill("Camera door")
            await page.get_by_role("button", name="Start scanning").click()
            await page.wait_for_selector("#scanner:not([hidden])")
            await assert_accessible(page, "ready to scan")

            code = page.get_by_label("Ticket code", exact=True)
            await code.fill("USHER2:NOTATICKET")
            await code.press("Enter")
            await page.wait_for_selector("#answer[data-kind='refuse']")
            refused = sound(await tones(page))
            await assert_accessible(page, "a refusal")

            await page.get_by_role("button", name="Scan with the camera").click()
            await page.wait_for_selector("#answer[data-kind='admit']", timeout=20_000)
            assert "E7" in await page.locator("#answer").inner_text()
            assert await page.evaluate("window.__frames") > 0  # decoded from the video
            admitted = sound(await tones(page))
            await page.screenshot(path=str(ARTIFACTS / "door-camera.png"))
            await assert_accessible(page, "admitted by the camera")

            # the ticket still in front of the camera: scanned again once the page lets it
            await page.wait_for_selector("#answer[data-kind='already']", timeout=20_000)
            again = sound(await tones(page))
            await assert_accessible(page, "already admitted, by the camera")
            await context.close()
        finally:
            await browser.close()
    assert len({refused, admitted, again}) == 3, (refused, admitted, again)
    async with demo.acquire() as conn:
        scans = await conn.fetch(
            "SELECT result, reason FROM door_scan WHERE door = 'Camera door' ORDER BY recorded_at"
        )
    assert [(s["result"], s["reason"]) for s in scans][-2:] == [
        ("admitted", None),
        ("refused", "already_admitted"),
    ]
    assert errors == []
