"""The dashboard's read models through the API: a day's screenings with live occupancy, a
screening's board (who holds, booked or blocked each seat) and its live holds with their clocks."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import asyncpg

from tests.integration.box_office.helpers import backdate, confirm_body, hold, token_of
from tests.integration.racing import caller


async def _programme(client, staff, **params) -> dict:
    response = await client.get("/v1/staff/screenings", params=params, headers=staff)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_programme_opens_on_the_first_day_with_screenings_to_come(client, staff, demo):
    first = await demo.fetchrow(
        "SELECT (s.starts_at AT TIME ZONE v.time_zone)::date AS day FROM screening s"
        " JOIN venue v ON v.id = s.venue_id ORDER BY s.starts_at LIMIT 1"
    )
    programme = await _programme(client, staff)
    assert programme["day"] == first["day"].isoformat()
    assert programme["previous_date"] is None
    assert programme["next_date"] == (first["day"] + timedelta(days=1)).isoformat()
    starts = [line["starts_at"] for line in programme["screenings"]]
    assert starts == sorted(starts)
    assert starts
    for line in programme["screenings"]:
        assert line["local_date"] == programme["day"]
        assert line["counts"] == {
            "available": line["seats"],
            "held": 0,
            "booked": 0,
            "blocked": 0,
        }
    nxt = await _programme(client, staff, date=programme["next_date"])
    assert nxt["previous_date"] == programme["day"]
    empty = await _programme(client, staff, date="2001-01-01")
    assert empty["screenings"] == []
    assert empty["next_date"] == programme["day"]


async def test_occupancy_counts_live_holds_bookings_and_blocks(client, staff, small, demo):
    made = await hold(client, small, {"seats": ["C1", "C2", "C3"]})
    confirmed = await hold(client, small, {"seats": ["D1", "D2"]})
    answer = await client.post(
        f"/v1/holds/{confirmed.json()['id']}/confirm",
        json=confirm_body(["D1", "D2"]),
        headers={**token_of(confirmed), "Idempotency-Key": "k1"},
    )
    assert answer.status_code == 201, answer.text
    blocked = await client.post(
        f"/v1/screenings/{small}/blocks", json={"seats": ["A5"], "note": "camera"}, headers=staff
    )
    assert blocked.status_code == 201
    expired = await hold(client, small, {"seats": ["E1"]}, client_id="other")
    await backdate(demo, expired.json()["id"])  # no worker runs: the seat is free all the same

    line = await _line(client, staff, small)
    assert line["counts"] == {"available": 86, "held": 3, "booked": 2, "blocked": 1}
    board = (await client.get(f"/v1/staff/screenings/{small}", headers=staff)).json()
    assert board["screening"]["counts"] == line["counts"]
    seats = {seat["label"]: seat for seat in board["seats"]}
    assert len(seats) == 92
    assert seats["C1"]["status"] == "held"
    assert seats["C1"]["hold_id"] == made.json()["id"]
    assert seats["D2"]["status"] == "booked"
    assert seats["D2"]["booking_reference"] == answer.json()["reference"]
    assert seats["A5"]["status"] == "blocked"
    assert seats["A5"]["note"] == "camera"
    assert seats["E1"]["status"] == "available"
    assert "hold_id" not in seats["E1"]
    assert [h["id"] for h in board["holds"]] == [made.json()["id"]]


async def _line(client, staff, screening_id: UUID) -> dict:
    day = await _day_of(client, staff, screening_id)
    programme = await _programme(client, staff, date=day)
    [line] = [line for line in programme["screenings"] if line["id"] == str(screening_id)]
    return line


async def _day_of(client, staff, screening_id: UUID) -> str:
    board = await client.get(f"/v1/staff/screenings/{screening_id}", headers=staff)
    return board.json()["screening"]["local_date"]


async def test_live_holds_show_seats_age_time_left_and_expiring_soon(client, staff, small, demo):
    fresh = await hold(client, small, {"seats": ["F5", "F6"]}, client_id="till-1")
    old = await hold(client, small, {"seats": ["G1"]}, client_id="till-2")
    await _age(demo, old.json()["id"], minutes_left=0.5)
    response = await client.get(f"/v1/staff/screenings/{small}/holds", headers=staff)
    assert response.status_code == 200
    body = response.json()
    assert body["expiring_soon_seconds"] == 60
    soonest, later = body["holds"]  # soonest to expire first
    assert soonest["id"] == old.json()["id"]
    assert soonest["seats"] == ["G1"]
    assert soonest["expiring_soon"] is True
    assert 0 < soonest["seconds_left"] <= 30
    assert soonest["age_seconds"] >= 570
    assert later["id"] == fresh.json()["id"]
    assert later["seats"] == ["F5", "F6"]
    assert later["client_id"] == "ip:" + caller("till-1")["X-Forwarded-For"]  # who held it
    assert later["expiring_soon"] is False
    assert 590 < later["seconds_left"] <= 600


async def _age(pool: asyncpg.Pool, hold_id: str, minutes_left: float) -> None:
    """Move a hold (and its claims) back in time so that it has `minutes_left` to live."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            UPDATE hold SET created_at = now() - interval '10 minutes' + make_interval(secs => $2),
                            expires_at = now() + make_interval(secs => $2)
            WHERE id = $1
            """,
            UUID(hold_id),
            minutes_left * 60,
        )
        await conn.execute(
            "UPDATE seat_claim SET expires_at = now() + make_interval(secs => $2)"
            " WHERE hold_id = $1",
            UUID(hold_id),
            minutes_left * 60,
        )


async def test_venue_filter_and_unknown_screening(client, staff, small, demo):
    venue = await demo.fetchval("SELECT venue_id FROM screening WHERE id = $1", small)
    day = await _day_of(client, staff, small)
    mine = await _programme(client, staff, date=day, venue=str(venue))
    assert mine["screenings"]
    none = await _programme(client, staff, date=day, venue="01900000-0000-7000-8000-000000000000")
    assert none["screenings"] == []
    assert none["day"] == day
    missing = "01900000-0000-7000-8000-000000000001"
    for path in (f"/v1/staff/screenings/{missing}", f"/v1/staff/screenings/{missing}/holds"):
        answer = await client.get(path, headers=staff)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
    bad = await client.get("/v1/staff/screenings", params={"date": "tomorrow"}, headers=staff)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "date"


async def test_a_venue_with_no_screenings_has_an_empty_programme(client, staff, demo):
    unknown = "01900000-0000-7000-8000-000000000000"
    programme = await _programme(client, staff, venue=unknown)
    assert programme == {
        "day": None,
        "previous_date": None,
        "next_date": None,
        "as_of": programme["as_of"],
        "screenings": [],
    }
    assert date.fromisoformat(programme["as_of"][:10])
