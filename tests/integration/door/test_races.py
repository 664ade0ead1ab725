"""Doors racing through a real API server process: PostgreSQL's unique index on a ticket's live
admission decides, whatever the timing; a retried scan answers what the first one answered."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from uuid import UUID

import pytest

from tests.integration.box_office.helpers import events
from tests.integration.door.helpers import admissions, book, code_of, scan_body
from tests.integration.racing import at_once, clients

pytestmark = pytest.mark.slow
DOORS = 8


async def test_eight_doors_scanning_the_same_50_tickets_admit_each_once(
    api, client, staff, tonight, demo
):
    bookings = [
        await book(client, tonight, [f"{row}{n}" for n in range(1, 11)], who=f"till-{row}")
        for row in "ABCDE"
    ]
    codes = [code_of(b, n) for b in bookings for n in range(1, 11)]
    rng = random.Random(16)
    plans = []  # (door, body); some scans are sent twice at once with the same nonce
    for code in codes:  # every door scans each ticket at the same moment
        for door in range(DOORS):
            body = scan_body(
                tonight,
                code,
                door=f"Door {door}",
                scanner_id=f"door-{door}",
                nonce=secrets.token_hex(8),
            )
            plans.append((door, body))
            if rng.random() < 0.2:
                plans.append((door, body))
    async with clients(api, DOORS) as made:
        answers = await at_once(
            [
                lambda door=door, body=body: made[door].post(
                    "/v1/door/scans", json=body, headers=staff
                )
                for door, body in plans
            ]
        )
    assert all(a.status_code == 200 for a in answers), [
        a.text for a in answers if a.status_code != 200
    ]
    by_scan: dict[tuple[str, str], list[dict]] = {}
    for (_, body), answer in zip(plans, answers, strict=True):
        by_scan.setdefault((body["scanner_id"], body["nonce"]), []).append(answer.json())
    admitted = Counter()
    for scans in by_scan.values():
        first = next((a for a in scans if not a["replayed"]), scans[0])
        for other in scans:  # a retry answers the same, never "already admitted" of itself
            assert {**other, "replayed": False} == {**first, "replayed": False}
        assert sum(1 for a in scans if not a["replayed"]) == 1
        if first["result"] == "admitted":
            admitted[first["tickets"][0]["seat"]] += 1
        else:
            assert first["reason"] == "already_admitted", first
    assert len(admitted) == 50
    assert set(admitted.values()) == {1}
    assert len(await admissions(demo)) == 50
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM door_scan") == len(by_scan)
    assert len(await events(demo, "admission.recorded")) == 50
    assert len(await events(demo, "admission.conflict")) == len(by_scan) - 50


async def test_offline_uploads_from_two_doors_record_one_admission_per_ticket(
    api, client, staff, tonight, demo
):
    booking = await book(client, tonight, [f"B{n}" for n in range(1, 9)])
    codes = [code_of(booking, n) for n in range(1, 9)]
    import datetime as dt

    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def upload(door: str, offset: int, which: list[int]) -> dict:
        return {
            "scanner_id": door,
            "door": door,
            "scans": [
                {
                    "code": codes[i],
                    "nonce": f"{door}-{i}-nonce",
                    "scanned_at": (start + dt.timedelta(seconds=offset + i)).isoformat(),
                }
                for i in which
            ],
        }

    north = upload("north", 0, [0, 1, 2, 3, 4])  # north scanned tickets 1-5 first
    south = upload("south", 30, [3, 4, 5, 6, 7])  # south 4-8, later: 4 and 5 are duplicates
    path = f"/v1/door/screenings/{tonight}/uploads"
    async with clients(api, 2) as made:
        answers = await at_once(
            [
                lambda: made[1].post(path, json=south, headers=staff),
                lambda: made[0].post(path, json=north, headers=staff),
                lambda: made[0].post(path, json=north, headers=staff),  # a retried upload
            ]
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    rows = await admissions(demo)
    assert len(rows) == 8
    winners = {row["seat_id"]: row["scanner_id"] for row in rows}
    assert Counter(winners.values()) == {"north": 5, "south": 3}  # the first scan wins
    conflicts = await events(demo, "admission.conflict")
    assert sorted(
        (c["seat_label"], c["admitted_door"], c["duplicate_door"]) for c in conflicts
    ) == [
        ("B4", "north", "south"),
        ("B5", "north", "south"),
    ]
    north_answers = [a.json() for a in answers[1:]]
    assert sorted(a["replayed"] for a in north_answers) == [0, 5]


async def test_an_upload_and_a_party_scan_crossing_orders_never_deadlock(
    api, client, staff, tonight, demo
):
    """An upload admits in the order the tickets were scanned (here: seat 6 of a party, then
    another booking's ticket, then seats 5 to 1), an online party scan admits in seat order.
    The upload is held up after seat 6 by a transaction holding the other ticket; the party
    scan arrives then: alone it would take seats 1-5 and wait for seat 6 while the upload
    waits for seat 5, a deadlock (PostgreSQL would abort one, a 500). The screening's upload
    lock keeps them apart (migration 026), and nothing retries."""
    import datetime as dt

    party = await book(client, tonight, [f"C{n}" for n in range(1, 7)], who="till-party")
    other = await book(client, tonight, ["D1"], who="till-other")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    order = [code_of(party, 6), code_of(other, 1), *(code_of(party, n) for n in range(5, 0, -1))]
    upload = {
        "scanner_id": "back",
        "door": "Back door",
        "scans": [
            {
                "code": code,
                "nonce": f"back-nonce-{i}",
                "scanned_at": (start + dt.timedelta(seconds=i)).isoformat(),
            }
            for i, code in enumerate(order)
        ],
    }
    blocker = await demo.acquire()
    waiting = await demo.acquire()

    async def lock_waits() -> int:
        return await waiting.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )

    async def until(count: int) -> None:
        while await lock_waits() < count:  # PostgreSQL sends no signal: look again
            assert not uploaded.done(), uploaded.result().text
            await asyncio.sleep(0.01)

    try:
        holding = blocker.transaction()
        await holding.start()
        scan_id = await blocker.fetchval(
            "INSERT INTO door_scan (id, scanner_id, nonce, screening_id, door, mode, scanned_at,"
            " recorded_at) VALUES (gen_random_uuid(), 'blocker', 'x', $1, 'x', 'online', now(),"
            " now()) RETURNING id",
            tonight,
        )
        await blocker.execute(
            "INSERT INTO admission (id, screening_id, booking_id, seat_id, scan_id, scanned_at,"
            " door, scanner_id) SELECT gen_random_uuid(), $1, booking_id, seat_id, $2, now(),"
            " 'x', 'blocker' FROM booking_seat WHERE booking_id = $3",
            tonight,
            scan_id,
            UUID(other["id"]),
        )
        async with clients(api, 2) as made:
            uploaded = asyncio.create_task(
                made[0].post(f"/v1/door/screenings/{tonight}/uploads", json=upload, headers=staff)
            )
            await asyncio.wait_for(until(1), 30)  # the upload holds seat 6, waits for D1
            scanned = asyncio.create_task(
                made[1].post(
                    "/v1/door/scans",
                    json=scan_body(tonight, code_of(party), scanner_id="front"),
                    headers=staff,
                )
            )
            await asyncio.wait_for(until(2), 30)  # and the party scan waits too
            await holding.rollback()
            answers = [await uploaded, await scanned]
    finally:
        await demo.release(blocker)
        await demo.release(waiting)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["admitted"] == 7
    assert answers[1].json()["reason"] == "already_admitted"
    rows = await admissions(demo)
    assert len(rows) == 7
    assert {row["scanner_id"] for row in rows} == {"back"}
