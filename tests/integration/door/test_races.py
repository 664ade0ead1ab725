"""Doors racing through a real API server process: PostgreSQL's unique index on a ticket's live
admission decides, whatever the timing; a retried scan answers what the first one answered."""

from __future__ import annotations

import random
import secrets
from collections import Counter

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
