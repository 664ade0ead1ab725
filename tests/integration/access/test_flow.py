"""The event-driven paths end to end, through real relay and worker processes: a cancelled
booking, an expired hold or a moved screening frees its device, and the next patron waiting
gets it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from schemas.access import DeviceReservationIn
from schemas.box_office import HoldIn
from services.access import service as access
from services.box_office import service as box_office
from services.settings import Settings
from tests.integration.access.helpers import (
    assert_never_lent_twice,
    events,
    keep_units,
    reserve,
    schedule,
    secret_of,
)
from tests.integration.box_office.helpers import confirm_body, token_of
from tests.integration.box_office.helpers import hold as make_hold
from tests.integration.events.conftest import Processes, wait_until

pytestmark = pytest.mark.slow


def status_is(db: asyncpg.Pool, reservation_id: str | UUID, wanted: str):
    async def check() -> bool:
        status = await db.fetchval(
            "SELECT status FROM device_reservation WHERE id = $1", UUID(str(reservation_id))
        )
        return bool(status == wanted)

    return check


def run(processes: Processes, settings: Settings) -> None:
    processes.start(settings, "relay")
    processes.start(settings, "worker")


async def test_a_cancelled_booking_or_an_expired_hold_frees_its_device_for_the_next_patron(
    client, db, day, settings, processes
):
    """One unit; two screenings apart, so it serves each. At the first, Ana's device is tied
    to her booking and Ion waits; at the second, Mei's is tied to a hold about to expire and Dan
    waits. Ana cancels her booking and Mei's hold runs out: Ion and Dan get the unit."""
    await keep_units(db, "ALS-201")
    first = await schedule(db, "cinema-2", day)
    second = await schedule(db, "cinema-2", day + timedelta(hours=5))
    held = await make_hold(client, first, {"seats": ["E5", "E6"]})
    booked = await client.post(
        f"/v1/holds/{held.json()['id']}/confirm",
        json=confirm_body(["E5", "E6"]),
        headers={**token_of(held), "Idempotency-Key": "flow"},
    )
    reference = booked.json()["reference"]
    ana = await client.post(
        f"/v1/screenings/{first}/device-reservations",
        json={"kind": "assistive_listening", "booking_reference": reference},
        headers={"X-Booking-Secret": booked.json()["secret"]},
    )
    ion = await reserve(client, first, "Ion")
    async with db.acquire() as conn:
        hold_minutes = await conn.fetchval(
            "SELECT hold_minutes FROM venue WHERE slug = 'riverside'"
        )
        made_at = datetime.now(UTC) - timedelta(minutes=hold_minutes, seconds=-2)
        hold = await box_office.make_hold(
            conn, second, HoldIn(count=2), "flow-client", settings.box_office, made_at
        )
        mei, _ = await access.reserve(
            conn,
            second,
            DeviceReservationIn("assistive_listening", "Mei", hold_id=hold.id),
            "flow-client",
            access.TieProof(hold_token=hold.token),
            settings.access,
            made_at,
        )
    dan = await reserve(client, second, "Dan")
    assert [ana.json()["status"], ion.json()["status"], mei.status, dan.json()["status"]] == [
        "reserved",
        "waitlisted",
        "reserved",
        "waitlisted",
    ]
    run(processes, settings)
    cancelled = await client.post(
        f"/v1/bookings/{reference}/cancel",
        json={},
        headers={"X-Booking-Secret": booked.json()["secret"]},
    )
    assert cancelled.status_code == 200
    await wait_until(status_is(db, ion.json()["id"], "reserved"), within=20)
    await wait_until(status_is(db, dan.json()["id"], "reserved"), within=20)
    seen = await client.get(f"/v1/device-reservations/{ana.json()['id']}", headers=secret_of(ana))
    assert (seen.json()["status"], seen.json()["ended_by"]) == ("cancelled", "booking")
    ended = await db.fetchrow(
        "SELECT status, ended_by FROM device_reservation WHERE id = $1", mei.id
    )
    assert (ended["status"], ended["ended_by"]) == ("cancelled", "hold")
    promotions = await events(db, "device_reservation.promoted")
    assert sorted(p["patron_name"] for p in promotions) == ["Dan", "Ion"]
    assert {p["asset_tag"] for p in promotions} == {"ALS-201"}
    await assert_never_lent_twice(db)


async def test_a_moved_screening_takes_its_devices_along(
    client, db, day, settings, processes, manager
):
    await keep_units(db, "ALS-101")
    moving = await schedule(db, "cinema-1", day)
    overlapping = await schedule(db, "cinema-2", day + timedelta(minutes=90))
    ana = await reserve(client, moving, "Ana")
    ion = await reserve(client, overlapping, "Ion")
    assert (ana.json()["status"], ion.json()["status"]) == ("reserved", "waitlisted")
    run(processes, settings)
    moved = await client.patch(
        f"/v1/screenings/{moving}",
        json={"starts_at": (day + timedelta(hours=6)).isoformat()},
        headers=manager,
    )
    assert moved.status_code == 200, moved.text
    await wait_until(status_is(db, ion.json()["id"], "reserved"), within=20)
    spans = {
        row["patron_name"]: (row["status"], row["lower"])
        for row in await db.fetch("SELECT patron_name, status, lower(span) FROM device_reservation")
    }
    assert spans["Ana"] == ("reserved", day + timedelta(hours=6) - timedelta(minutes=30))
    assert spans["Ion"][0] == "reserved"
    await assert_never_lent_twice(db)
