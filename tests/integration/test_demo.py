"""The demo programme has something to do now: the README's desk tour works the day it loads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.demo import SOON_MINUTES, screening_soon


async def test_a_screening_starts_soon_and_its_devices_can_be_checked_out_now(client, demo, staff):
    now = datetime.now(UTC)
    async with demo.acquire() as conn:
        starts_at = await screening_soon(conn, now)
        assert starts_at is not None
        assert await screening_soon(conn, now) is None  # one is enough
        screening_id = await conn.fetchval(
            "SELECT id FROM screening WHERE starts_at = $1", starts_at
        )
    assert timedelta(minutes=SOON_MINUTES) <= starts_at - now <= timedelta(minutes=SOON_MINUTES + 5)
    reserved = await client.post(
        f"/v1/screenings/{screening_id}/device-reservations",
        json={"kind": "assistive_listening", "patron_name": "Ana Pop"},
        headers={"X-Client-Id": "demo-tour"},
    )
    assert reserved.status_code == 201, reserved.text
    out = await client.post(
        f"/v1/device-pickups/{reserved.json()['id']}/check-out",
        json={"asset_tag": "ALS-201"},
        headers=staff,
    )
    assert out.status_code == 200, out.text  # not "too early"
    assert out.json()["status"] == "checked_out"
