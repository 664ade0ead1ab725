"""Staff writes to the programme: roles, validation, constraints and the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

NEW_FILM = {
    "slug": "the-beast",
    "title": "THE BEAST",
    "runtime_minutes": 146,
    "directors": ["Bertrand Bonello"],
    "countries": ["FR", "CA"],
    "year": 2023,
    "spoken_languages": ["fr", "en"],
    "series": ["passports"],
}


async def _outbox(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_type FROM outbox ORDER BY position")
    return [row["event_type"] for row in rows]


async def test_writes_need_a_token_and_the_manager_role(client, staff, manager):
    anonymous = await client.post("/v1/films", json=NEW_FILM)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    forged = await client.post(
        "/v1/films", json=NEW_FILM, headers={"Authorization": "Bearer x.y.z"}
    )
    assert forged.status_code == 401
    too_low = await client.post("/v1/films", json=NEW_FILM, headers=staff)
    assert too_low.status_code == 403
    assert too_low.json()["title"] == "Not allowed"
    created = await client.post("/v1/films", json=NEW_FILM, headers=manager)
    assert created.status_code == 201, created.text
    assert created.json()["series"][0]["slug"] == "passports"


async def test_sign_in_refuses_a_wrong_password(client, demo):
    wrong = await client.post(
        "/v1/staff/sessions", json={"email": "manager@usher.test", "password": "nope"}
    )
    assert wrong.status_code == 401
    unknown = await client.post(
        "/v1/staff/sessions", json={"email": "nobody@usher.test", "password": "nope"}
    )
    assert unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_me_and_adding_staff(client, staff, manager):
    me = await client.get("/v1/staff/me", headers=staff)
    assert me.json()["role"] == "staff"
    body = {"email": "usher@usher.test", "name": "New Usher", "password": "long-enough-pw"}
    assert (await client.post("/v1/staff/members", json=body, headers=staff)).status_code == 403
    assert (await client.post("/v1/staff/members", json=body, headers=manager)).status_code == 201
    again = await client.post("/v1/staff/members", json=body, headers=manager)
    assert again.status_code == 409
    signed_in = await client.post(
        "/v1/staff/sessions", json={"email": "USHER@usher.test", "password": "long-enough-pw"}
    )
    assert signed_in.status_code == 201


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({**NEW_FILM, "title": 5}, "title", 400),
        ({k: v for k, v in NEW_FILM.items() if k != "title"}, "title", 400),
        ({**NEW_FILM, "countries": ["Belgium"]}, "countries[0]", 400),
        ({**NEW_FILM, "press_quotes": [{"text": "Great"}]}, "press_quotes[0].critic", 400),
        ({**NEW_FILM, "surprise": True}, "surprise", 400),
        ({**NEW_FILM, "runtime_minutes": 0}, "runtime_minutes", 400),
        ({**NEW_FILM, "series": ["nope"]}, "series[0]", 422),
        ({**NEW_FILM, "related": [{"film": "nope"}]}, "related[0].film", 422),
        ({**NEW_FILM, "slug": "here"}, "slug", 409),
    ],
)
async def test_malformed_film_bodies_name_the_field_and_write_nothing(
    client, manager, demo, body, field, status
):
    before = await _outbox(demo)
    response = await client.post("/v1/films", json=body, headers=manager)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    if status != 409:
        assert problem["errors"][0]["field"] == field
    assert await _outbox(demo) == before


async def test_body_that_is_not_json(client, manager):
    response = await client.post(
        "/v1/films",
        content=b"{not json",
        headers={**manager, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
    array = await client.post("/v1/films", json=[1, 2], headers=manager)
    assert array.status_code == 400


async def _screening_body(client, when: datetime) -> dict[str, object]:
    venue = (await client.get("/v1/venues/riverside")).json()
    room = next(a for a in venue["auditoriums"] if a["slug"] == "cinema-1")
    return {
        "film": "ghost-tropic",
        "auditorium_id": room["id"],
        "starts_at": when.isoformat(),
        "prices": [{"ticket_type": "adult", "amount": 1400}],
        "subtitles": {"language": "en"},
        "features": ["assistive_listening"],
    }


async def test_schedule_reschedule_and_cancel_record_events(client, manager, demo):
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    body = await _screening_body(client, when)
    created = await client.post("/v1/screenings", json=body, headers=manager)
    assert created.status_code == 201, created.text
    screening = created.json()
    assert screening["features"] == ["assistive_listening", "subtitled"]
    assert screening["ends_at"] == (when + timedelta(minutes=85)).isoformat().replace("+00:00", "Z")

    stale = await client.patch(
        f"/v1/screenings/{screening['id']}",
        json={"starts_at": (when + timedelta(hours=1)).isoformat()},
        headers={**manager, "If-Match": '"7"'},
    )
    assert stale.status_code == 412
    moved = await client.patch(
        f"/v1/screenings/{screening['id']}",
        json={"starts_at": (when + timedelta(hours=1)).isoformat()},
        headers={**manager, "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"] == '"2"'
    cancelled = await client.post(
        f"/v1/screenings/{screening['id']}/cancel", json={"reason": "print lost"}, headers=manager
    )
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(
        f"/v1/screenings/{screening['id']}/cancel", json={"reason": "twice"}, headers=manager
    )
    assert again.status_code == 409
    events = await _outbox(demo)
    assert events[-3:] == ["screening.scheduled", "screening.rescheduled", "screening.cancelled"]
    async with demo.acquire() as conn:
        actions = await conn.fetch(
            "SELECT action FROM staff_action WHERE subject_id = $1 ORDER BY id", screening["id"]
        )
    assert [a["action"] for a in actions] == [
        "screening.scheduled",
        "screening.rescheduled",
        "screening.cancelled",
    ]


async def test_hearing_loop_only_where_there_is_one(client, manager, demo):
    body = await _screening_body(client, datetime.now(UTC) + timedelta(days=40))
    body["features"] = ["hearing_loop"]
    response = await client.post("/v1/screenings", json=body, headers=manager)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "features[0]"


async def test_overlapping_screenings_race_and_exactly_one_wins(client, manager, demo):
    """Eight managers schedule one auditorium at overlapping times at once, each on its own
    connection: PostgreSQL's exclusion constraint (cleaning time included) lets exactly one in."""
    from schemas.catalog import ScreeningIn
    from services.catalog import service
    from services.errors import Conflict

    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60)
    bodies = [await _screening_body(client, base + timedelta(minutes=10 * i)) for i in range(8)]

    async def schedule(body: dict[str, object]) -> str:
        async with demo.acquire() as conn:
            try:
                await service.schedule_screening(conn, None, msgspec.convert(body, ScreeningIn))
            except Conflict as exc:
                return f"conflict on {exc.extra['errors'][0]['field']}"
        return "scheduled"

    outcomes = sorted(await asyncio.gather(*(schedule(body) for body in bodies)))
    assert outcomes == ["conflict on starts_at"] * 7 + ["scheduled"]
    async with demo.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM screening WHERE starts_at >= $1", base - timedelta(hours=1)
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'screening.scheduled'"
            " AND (payload->>'starts_at')::timestamptz >= $1",
            base - timedelta(hours=1),
        )
    assert count == 1
    assert events == 1


async def test_amending_a_film(client, manager, demo):
    response = await client.patch(
        "/v1/films/here", json={"rating": "PG-13", "website": None}, headers=manager
    )
    assert response.status_code == 200, response.text
    film = response.json()
    assert film["rating"] == "PG-13"
    assert film["website"] is None
    assert film["version"] == 2
    assert (await _outbox(demo))[-1] == "film.updated"
