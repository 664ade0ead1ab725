"""The desk through the API, on the real clock: screenings in the tests' own annex venue start in
ten minutes, so pick-up is open. Pick-up list, check-out (and its swaps), return, unit states,
the inventory; every step audited and evented."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from schemas.access import DeviceIn
from services.access import service
from services.access.service import _patrons
from tests.integration.access.helpers import (
    annex,
    assert_never_lent_twice,
    events,
    reserve,
    schedule,
)
from tests.integration.box_office.helpers import confirm_body, token_of
from tests.integration.box_office.helpers import hold as make_hold


class Annex:
    def __init__(self, venue: UUID, room_1: UUID, room_2: UUID) -> None:
        self.venue, self.room_1, self.room_2 = venue, room_1, room_2

    def path(self, tag: str = "") -> str:
        return f"/v1/venues/{self.venue}/devices" + (f"/{tag}" if tag else "")


@pytest.fixture
async def place(db: asyncpg.Pool) -> Annex:
    """The annex with two receivers tuned to Annex-1 and one to Annex-2."""
    async with db.acquire() as conn:
        venue, room_1, room_2 = await annex(conn)
        now = datetime.now(UTC)
        for tag, room in (("AX-1", room_1), ("AX-2", room_1), ("AX-3", room_2)):
            await service.add_device(
                conn, None, venue, DeviceIn(tag, "assistive_listening", room), now
            )
    return Annex(venue, room_1, room_2)


def soon(minutes: int = 10) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)


async def _pickups(client, screening: UUID, staff) -> dict[str, dict]:
    answer = await client.get(f"/v1/screenings/{screening}/device-pickups", headers=staff)
    assert answer.status_code == 200, answer.text
    return {item["patron_name"]: item for item in answer.json()["items"]}


async def test_the_pick_up_list_says_who_needs_what_and_what_is_ready(client, db, staff, place):
    screening = await schedule(db, "annex-1", soon())
    held = await make_hold(client, screening, {"seats": ["A3"]})
    booked = await client.post(
        f"/v1/holds/{held.json()['id']}/confirm",
        json=confirm_body(["A3"]),
        headers={**token_of(held), "Idempotency-Key": "desk"},
    )
    reference = booked.json()["reference"]
    await client.post(
        f"/v1/screenings/{screening}/device-reservations",
        json={"kind": "assistive_listening", "booking_reference": reference},
        headers={"X-Booking-Secret": booked.json()["secret"]},
    )
    for name in ("Ion", "Mei", "Dan"):
        await reserve(client, screening, name)

    listed = await _pickups(client, screening, staff)
    ana, ion, mei, dan = (listed[n] for n in ("Ana Pop", "Ion", "Mei", "Dan"))
    assert ana["seats"] == ["A3"]
    assert ana["booking_reference"] == reference
    assert (ana["device"]["asset_tag"], ana["ready"]) == ("AX-1", True)
    assert (ion["device"]["asset_tag"], ion["ready"]) == ("AX-2", True)
    assert mei["device"]["asset_tag"] == "AX-3"
    assert mei["ready"] is False
    assert mei["problem"] == "tuned to another auditorium"
    assert dan["status"] == "waitlisted"
    assert dan["position"] == 1
    assert "device" not in dan
    anonymous = await client.get(f"/v1/screenings/{screening}/device-pickups")
    assert anonymous.status_code == 401


async def test_the_desk_finds_a_reservation_by_its_number_as_read_out(client, db, staff, place):
    screening = await schedule(db, "annex-1", soon())
    ana = (await reserve(client, screening, "Ana")).json()
    number = ana["number"]
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{7}", number), number  # no 0/O, 1/I/L
    read_out = f"{number[:3].lower()}-{number[3:]}"  # as a patron might say or type it
    found = await client.get(f"/v1/device-pickups/by-number/{read_out}", headers=staff)
    assert found.status_code == 200, found.text
    assert found.json()["reservation_id"] == ana["id"]
    assert found.json()["number"] == number
    missing = await client.get("/v1/device-pickups/by-number/ZZZZZZZ", headers=staff)
    assert missing.status_code == 404
    assert (await client.get(f"/v1/device-pickups/by-number/{number}")).status_code == 401


async def test_a_number_already_taken_is_drawn_again(client, db, place, monkeypatch):
    """Numbers are random (31**7): one drawn twice is drawn again, never a 500."""
    screening = await schedule(db, "annex-1", soon())
    ana = (await reserve(client, screening, "Ana")).json()
    draws = iter([ana["number"], ana["number"], "MEI2345"])
    monkeypatch.setattr(_patrons.tokens, "new_reference", lambda: next(draws))
    mei = await reserve(client, screening, "Mei")
    assert mei.status_code == 201, mei.text
    assert mei.json()["number"] == "MEI2345"


async def test_check_out_by_asset_tag(client, db, staff, place):
    screening = await schedule(db, "annex-1", soon())
    ana = (await reserve(client, screening, "Ana")).json()
    mei = (await reserve(client, screening, "Mei")).json()
    await reserve(client, screening, "Ion")  # AX-3, tuned to Annex-2
    path = f"/v1/device-pickups/{ana['id']}/check-out"

    out = await client.post(path, json={"asset_tag": "AX-1"}, headers=staff)
    assert out.status_code == 200, out.text
    assert out.json()["status"] == "checked_out"
    assert out.json()["device"]["state"] == "on_loan"
    again = await client.post(path, json={"asset_tag": "AX-1"}, headers=staff)
    assert again.status_code == 200  # a retried check-out
    assert len(await events(db, "device_reservation.checked_out")) == 1
    assert (
        await db.fetchval("SELECT count(*) FROM staff_action WHERE action = 'device.checked_out'")
        == 1
    )

    mei_path = f"/v1/device-pickups/{mei['id']}/check-out"
    cases = [
        ({"asset_tag": "AX-1"}, 409, "on loan"),  # Ana has it
        ({"asset_tag": "AX-3"}, 409, "tuned to another auditorium"),
        ({"asset_tag": "NOPE-1"}, 404, None),
        ({"asset_tag": "no spaces"}, 400, None),
    ]
    for body, status, reason in cases:
        answer = await client.post(mei_path, json=body, headers=staff)
        assert answer.status_code == status, (body, answer.text)
        if reason:
            assert answer.json()["reason"] == reason
    assert (await client.post(mei_path, json={"asset_tag": "AX-2"})).status_code == 401

    # the desk retunes AX-3 to Annex-1, and charges it: now it will do
    retuned = await client.patch(
        place.path("AX-3"), json={"auditorium_id": str(place.room_1)}, headers=staff
    )
    assert retuned.status_code == 200, retuned.text
    out = await client.post(mei_path, json={"asset_tag": "AX-3"}, headers=staff)
    assert out.status_code == 200, out.text
    assert out.json()["device"]["asset_tag"] == "AX-3"
    await assert_never_lent_twice(db)


async def test_handing_over_another_unit_moves_whoever_had_it_set_aside(client, db, staff, place):
    screening = await schedule(db, "annex-1", soon())
    ana = (await reserve(client, screening, "Ana")).json()  # AX-1
    await reserve(client, screening, "Ion")  # AX-2
    out = await client.post(
        f"/v1/device-pickups/{ana['id']}/check-out", json={"asset_tag": "AX-2"}, headers=staff
    )
    assert out.status_code == 200, out.text
    listed = await _pickups(client, screening, staff)
    assert listed["Ana"]["device"]["asset_tag"] == "AX-2"
    assert listed["Ion"]["device"]["asset_tag"] == "AX-1"  # the unit Ana left
    assert listed["Ion"]["ready"] is True
    await assert_never_lent_twice(db)


async def test_a_swap_that_would_strand_another_patron_is_refused(client, db, staff, place):
    await db.execute("UPDATE device SET state = 'retired' WHERE asset_tag = 'AX-3'")
    start = soon()
    now_playing = await schedule(db, "annex-1", start)  # span: start-30 .. start+92+30
    overlapping = await schedule(db, "annex-2", start + timedelta(minutes=100))
    after = await schedule(db, "annex-1", start + timedelta(minutes=152))  # from the first's end
    ana = (await reserve(client, now_playing, "Ana")).json()
    await reserve(client, overlapping, "Ion")
    await reserve(client, after, "Mei")
    listed = {
        row["patron_name"]: row["asset_tag"]
        for row in await db.fetch(
            "SELECT r.patron_name, d.asset_tag FROM device_reservation r"
            " JOIN device d ON d.id = r.device_id"
        )
    }
    assert listed == {"Ana": "AX-1", "Ion": "AX-2", "Mei": "AX-1"}
    refused = await client.post(
        f"/v1/device-pickups/{ana['id']}/check-out", json={"asset_tag": "AX-2"}, headers=staff
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["reason"] == "unit set aside for another patron"
    after_refusal = {
        row["patron_name"]: (row["asset_tag"], row["status"])
        for row in await db.fetch(
            "SELECT r.patron_name, d.asset_tag, r.status FROM device_reservation r"
            " JOIN device d ON d.id = r.device_id"
        )
    }
    assert after_refusal == {
        "Ana": ("AX-1", "reserved"),
        "Ion": ("AX-2", "reserved"),
        "Mei": ("AX-1", "reserved"),
    }
    assert await db.fetchval("SELECT state FROM device WHERE asset_tag = 'AX-2'") == "available"


async def test_a_return_frees_the_unit_after_its_turnaround_or_at_once_if_charged(
    client, db, staff, place
):
    await db.execute("UPDATE device SET state = 'retired' WHERE asset_tag <> 'AX-1'")
    first = await schedule(db, "annex-1", soon())
    overlapping = await schedule(db, "annex-2", soon(20))
    ana = (await reserve(client, first, "Ana")).json()
    ion = await reserve(client, overlapping, "Ion")
    assert ion.json()["status"] == "waitlisted"
    await client.post(
        f"/v1/device-pickups/{ana['id']}/check-out", json={"asset_tag": "AX-1"}, headers=staff
    )
    back = await client.post(place.path("AX-1") + "/return", json={}, headers=staff)
    assert back.status_code == 200, back.text
    assert back.json()["state"] == "charging"
    [returned] = await events(db, "device_reservation.returned")
    assert returned["state"] == "charging"
    assert returned["late"] is False
    again = await client.post(place.path("AX-1") + "/return", json={}, headers=staff)
    assert again.status_code == 409
    upper = await db.fetchval(
        "SELECT upper(span) - returned_at FROM device_reservation WHERE id = $1", UUID(ana["id"])
    )
    assert upper == timedelta(minutes=30)  # the turnaround: return, clean, charge

    async def promote() -> list[UUID]:
        async with db.acquire() as conn:
            return await service.promote_waitlist(
                conn, place.venue, "assistive_listening", datetime.now(UTC)
            )

    assert await promote() == []  # still charging
    charged = await client.patch(place.path("AX-1"), json={"state": "available"}, headers=staff)
    assert charged.status_code == 200
    assert [str(r) for r in await promote()] == [ion.json()["id"]]
    await assert_never_lent_twice(db)


async def test_a_unit_sent_for_repair_hands_its_loans_on(client, db, staff, place):
    screening = await schedule(db, "annex-1", soon())
    ana = (await reserve(client, screening, "Ana")).json()  # AX-1
    await reserve(client, screening, "Ion")  # AX-2
    broken = await client.patch(
        place.path("AX-1"), json={"state": "needs_repair", "note": "crackles"}, headers=staff
    )
    assert broken.status_code == 200, broken.text
    listed = await _pickups(client, screening, staff)
    assert listed["Ana"]["device"]["asset_tag"] == "AX-3"  # the one free unit left
    await client.patch(place.path("AX-2"), json={"state": "retired"}, headers=staff)
    listed = await _pickups(client, screening, staff)
    assert listed["Ion"]["status"] == "waitlisted"  # no unit left for Ion
    [withdrawn] = await events(db, "device_reservation.waitlisted")
    assert withdrawn["reason"] == "unit_withdrawn"
    assert withdrawn["position"] == 1
    changes = await events(db, "device.changed")
    assert [(c["previous_state"], c["state"]) for c in changes] == [
        ("available", "needs_repair"),
        ("available", "retired"),
    ]
    assert listed["Ana"]["problem"] == "tuned to another auditorium"
    await client.patch(place.path("AX-3"), json={"auditorium_id": None}, headers=staff)
    out = await client.post(
        f"/v1/device-pickups/{ana['id']}/check-out",
        json={"asset_tag": "AX-3"},
        headers=staff,
    )
    assert out.status_code == 200, out.text
    # on loan: return it first
    nothing = await client.patch(place.path("AX-3"), json={}, headers=staff)
    assert nothing.status_code == 422
    on_loan = await client.patch(place.path("AX-3"), json={"state": "charging"}, headers=staff)
    assert on_loan.status_code == 409
    assert on_loan.json()["reason"] == "on loan"
    await assert_never_lent_twice(db)


async def test_the_inventory_and_what_us_rules_ask(client, db, staff, manager):
    venue = await db.fetchval("SELECT id FROM venue WHERE slug = 'riverside'")
    answer = await client.get(f"/v1/venues/{venue}/devices", headers=staff)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["devices"]) == 24
    assert answer.json()["requirements"] == {
        "receivers_required": 16,
        "receivers": 16,
        "hearing_aid_compatible_required": 3,
        "hearing_aid_compatible": 3,
        "captioning_required": 6,
        "captioning": 6,
        "audio_description_required": 2,
        "audio_description": 2,
    }
    body = {"asset_tag": "ALS-110", "kind": "assistive_listening"}
    path = f"/v1/venues/{venue}/devices"
    assert (await client.post(path, json=body, headers=staff)).status_code == 403
    added = await client.post(path, json=body, headers=manager)
    assert added.status_code == 201, added.text
    assert added.json()["auditorium_id"] is None
    assert (await client.post(path, json=body, headers=manager)).status_code == 409
    elsewhere = await client.post(
        path,
        json={"asset_tag": "ALS-111", "kind": "neckloop", "auditorium_id": str(UUID(int=7))},
        headers=manager,
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["field"] == "auditorium_id"
    unknown = await client.get(f"/v1/venues/{UUID(int=3)}/devices", headers=staff)
    assert unknown.status_code == 404
    [added_event] = await events(db, "device.added")
    assert added_event["asset_tag"] == "ALS-110"
