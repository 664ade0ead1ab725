"""Races between real clients, through a real API server process, with real relay and worker
processes where promotions are at stake: no unit is ever lent twice, every refusal is a waitlist
entry, nothing is lost, and each freed unit promotes exactly one patron, in waitlist order."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from services.access import service
from tests.integration.access.helpers import (
    assert_never_lent_twice,
    events,
    keep_units,
    reserve,
    schedule,
    secret_of,
)
from tests.integration.events.conftest import wait_until

pytestmark = pytest.mark.slow


async def test_patrons_racing_for_the_last_units_of_overlapping_screenings(http, db, day):
    await keep_units(db, "ALS-101", "ALS-201", "ALS-202", "ALS-203", "ALS-204")
    evening = await schedule(db, "cinema-1", day)
    overlapping = await schedule(db, "cinema-2", day + timedelta(minutes=60))
    apart = await schedule(db, "cinema-2", day + timedelta(hours=5))
    wanted = [evening] * 20 + [overlapping] * 20 + [apart] * 12
    answers = await asyncio.gather(
        *(
            reserve(http, screening, f"Patron {n}", client_id=f"patron-{n}")
            for n, screening in enumerate(wanted)
        )
    )
    assert [a.status_code for a in answers] == [201] * len(wanted), [a.text for a in answers]
    bodies = [a.json() for a in answers]
    rows = {
        str(row["id"]): row
        for row in await db.fetch("SELECT id, status, screening_id FROM device_reservation")
    }
    # nothing lost, nothing extra, and every answer is what was stored
    assert set(rows) == {body["id"] for body in bodies}
    assert all(rows[b["id"]]["status"] == b["status"] for b in bodies)
    got = Counter((UUID(b["screening_id"]), b["status"]) for b in bodies)
    # five units: five patrons of the two overlapping screenings get one, the rest wait; the
    # screening apart has the same five units to itself
    assert got[evening, "reserved"] + got[overlapping, "reserved"] == 5
    assert got[evening, "waitlisted"] + got[overlapping, "waitlisted"] == 35
    assert (got[apart, "reserved"], got[apart, "waitlisted"]) == (5, 7)
    for screening in (evening, overlapping, apart):
        positions = sorted(
            b["position"]
            for b in bodies
            if b["status"] == "waitlisted" and b["screening_id"] == str(screening)
        )
        assert positions == list(range(1, len(positions) + 1))  # one place each, no gaps
    assert len(await events(db, "device_reservation.reserved")) == 10
    assert len(await events(db, "device_reservation.waitlisted")) == len(wanted) - 10
    await assert_never_lent_twice(db)


async def _waitlisted_in_order(db: asyncpg.Pool, screening: UUID) -> list[str]:
    rows = await db.fetch(
        "SELECT patron_name FROM device_reservation WHERE screening_id = $1"
        " AND status = 'waitlisted' ORDER BY requested_at, id",
        screening,
    )
    return [row["patron_name"] for row in rows]


async def test_each_unit_freed_by_racing_cancellations_promotes_exactly_once(
    http, db, day, settings, processes
):
    await keep_units(db, "ALS-201", "ALS-202", "ALS-203", "ALS-204")
    screening = await schedule(db, "cinema-2", day)
    holders = [await reserve(http, screening, f"Holder {n}") for n in range(4)]
    waiting = [await reserve(http, screening, f"Waiting {n}", client_id="w") for n in range(4)]
    assert {h.json()["status"] for h in holders} == {"reserved"}
    assert [w.json()["position"] for w in waiting] == [1, 2, 3, 4]
    processes.start(settings, "relay")
    processes.start(settings, "worker", "--name", "worker-a")
    processes.start(settings, "worker", "--name", "worker-b")
    venue = await db.fetchval("SELECT venue_id FROM screening WHERE id = $1", screening)

    async def cancel(answer) -> int:
        path = f"/v1/device-reservations/{answer.json()['id']}/cancel"
        response = await http.post(path, json={}, headers=secret_of(answer))
        return response.status_code

    async def promote() -> None:
        async with db.acquire() as conn:
            await service.promote_waitlist(conn, venue, "assistive_listening", datetime.now(UTC))

    # two units freed at once, each by its patron twice over, while promotions run in the two
    # workers and three more passes race them here
    results = await asyncio.gather(
        cancel(holders[0]),
        cancel(holders[0]),
        cancel(holders[1]),
        cancel(holders[1]),
        *(promote() for _ in range(3)),
    )
    assert results[:4] == [200] * 4

    async def promoted(count: int):
        async def check() -> bool:
            found = await db.fetchval(
                "SELECT count(*) FROM outbox WHERE event_type = 'device_reservation.promoted'"
            )
            return bool(found >= count)

        return check

    await wait_until(await promoted(2), within=20)
    # Nothing more for half a second: a third promotion would come from the same cancellations'
    # events, which the workers (relay poll and consumer block 0.2 s here) have by then.
    await asyncio.sleep(0.5)
    assert await _waitlisted_in_order(db, screening) == ["Waiting 2", "Waiting 3"]
    cancelled = await events(db, "device_reservation.cancelled")
    assert len(cancelled) == 2  # each cancellation recorded once
    promotions = await events(db, "device_reservation.promoted")
    assert [p["patron_name"] for p in promotions] == ["Waiting 0", "Waiting 1"]
    freed = {c["device_id"] for c in cancelled}
    assert {p["device_id"] for p in promotions} == freed

    # one unit freed once more, twice over at the same moment: one promotion
    await asyncio.gather(cancel(holders[2]), cancel(holders[2]), promote(), promote())
    await wait_until(await promoted(3), within=20)
    await asyncio.sleep(0.5)  # a fourth would show by now, as above
    assert await _waitlisted_in_order(db, screening) == ["Waiting 3"]
    assert len(await events(db, "device_reservation.promoted")) == 3
    seen = await http.get(
        f"/v1/device-reservations/{waiting[3].json()['id']}", headers=secret_of(waiting[3])
    )
    assert seen.json()["position"] == 1
    await assert_never_lent_twice(db)
    assert "Traceback" not in processes.logs(), processes.logs()
