"""Offline doors: the screening's door snapshot (ETag, deltas since a version, no patron data),
and a duplicate from two offline doors reaching the staff feed within seconds of the upload."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx

from services import ticket_codes
from services.door import codes
from services.settings import get_settings
from tests.integration.door.helpers import book, code_of, open_doors, scan_body
from tests.sse import Reader, messages


async def test_the_snapshot_lists_every_ticket_by_digest_and_nothing_of_the_patron(
    client, staff, tonight, demo
):
    first = await book(client, tonight, ["A2", "A3"])
    second = await book(client, tonight, ["B2"])
    path = f"/v1/door/screenings/{tonight}/snapshot"
    response = await client.get(path, headers=staff)
    assert response.status_code == 200, response.text
    snapshot = response.json()
    assert "ana@example.org" not in response.text
    assert "Ana Pop" not in response.text
    party = codes.ticket_digest(UUID(first["id"]), codes.PARTY)
    tickets = {t[0]: t for t in snapshot["tickets"]}
    assert tickets[codes.ticket_digest(UUID(first["id"]), 2)] == [
        codes.ticket_digest(UUID(first["id"]), 2),
        party,
        2,
        "A3",
        "standard",
        "adult",
        "valid",
        [],
    ]
    legacy = ticket_codes.sign(
        get_settings().auth.ticket_keys[0], UUID(first["id"]), first["reference"]
    )
    assert snapshot["legacy"][codes.legacy_digest(legacy)] == party
    assert len(snapshot["tickets"]) == 3
    assert snapshot["revoked"] == []

    etag = response.headers["etag"]
    unchanged = await client.get(path, headers={**staff, "If-None-Match": etag})
    assert unchanged.status_code == 304

    await client.post("/v1/door/scans", json=scan_body(tonight, code_of(first, 1)), headers=staff)
    cancelled = await client.post(
        f"/v1/bookings/{second['reference']}/cancel", json={}, headers=staff
    )
    assert cancelled.status_code == 200
    delta = await client.get(path, params={"since": snapshot["version"]}, headers=staff)
    assert delta.headers["etag"] != etag
    changed = delta.json()
    states = {t[3]: t[6] for t in changed["tickets"]}
    assert states == {"A2": "admitted", "A3": "valid", "B2": "revoked"}
    assert changed["revoked"] == [codes.ticket_digest(UUID(second["id"]), codes.PARTY)]
    # the same delta again answers 304 to its ETag; a delta never misses a change (it may
    # repeat one still in flight on the shared server, which is harmless)
    again = await client.get(
        path,
        params={"since": snapshot["version"]},
        headers={**staff, "If-None-Match": delta.headers["etag"]},
    )
    assert again.status_code == 304


async def test_a_duplicate_from_two_offline_doors_reaches_the_staff_feed(
    live, staff, client, tonight, demo
):
    await open_doors(demo, tonight)
    booking = await book(client, tonight, ["C7"])
    code = code_of(booking, 1)
    now = datetime.now(UTC)

    def upload(door: str, minutes: int) -> dict:
        scanned = (now - timedelta(minutes=minutes)).isoformat()
        return {
            "scanner_id": door,
            "door": door,
            "scans": [{"code": code, "nonce": f"{door}-nonce-1", "scanned_at": scanned}],
        }

    path = f"/v1/door/screenings/{tonight}/uploads"
    async with httpx.AsyncClient(base_url=live.url, timeout=20) as http:
        first = await http.post(path, json=upload("north", 5), headers=staff)
        assert first.json()["admitted"] == 1
        ready = asyncio.Event()

        async def conflict() -> dict:
            async with http.stream(
                "GET", "/v1/staff/events", headers=staff, params={"screening": str(tonight)}
            ) as feed:
                async for message in messages(feed, Reader()):
                    if message.event == "ready":
                        ready.set()
                    if message.event == "admission.conflict":
                        found: dict = json.loads(message.data)
                        return found
            raise AssertionError("the feed ended")

        watching = asyncio.create_task(conflict())
        await asyncio.wait_for(ready.wait(), 10)
        second = await http.post(path, json=upload("south", 3), headers=staff)
        assert second.json()["duplicates"] == 1
        event = await asyncio.wait_for(watching, 5)  # within seconds of the upload
    assert (event["admitted_door"], event["duplicate_door"], event["mode"]) == (
        "north",
        "south",
        "offline",
    )
