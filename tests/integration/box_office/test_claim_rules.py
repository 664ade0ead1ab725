"""The rules every claim obeys, in one SQL function (box_office_claim): every path that claims a
seat (a new hold of that seat, best available, a seat added to a hold, a staff block) over every
sale status, start time and seat state, with one expected outcome; a screening that goes on sale
at a set time; hold requests retried with an Idempotency-Key."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from schemas.catalog import AuditoriumIn, Price, ScreeningIn, SeatIn
from services.box_office import service
from services.catalog import service as catalog
from tests.integration.box_office.helpers import backdate, confirm_body, events, hold, token_of
from tests.integration.racing import at_once, caller, clients

STATUSES = ("scheduled", "due", "on_sale", "sold_out", "cancelled")  # due: on_sale_at has come
STARTS = ("later", "started")
SEATS = ("free", "held", "dead hold", "booked", "blocked")
PATHS = ("hold", "best available", "add", "block")


async def two_seats(pool: asyncpg.Pool, **screening: Any) -> UUID:
    """A screening next month in a new auditorium of two seats, A1 and A2."""
    async with pool.acquire() as conn:
        venue_id = await conn.fetchval("SELECT id FROM venue ORDER BY slug LIMIT 1")
        slug = f"pair-{datetime.now(UTC).timestamp():.6f}".replace(".", "-")
        seats = [SeatIn(f"A{p}", "A", 1, p, float(p), 1.0) for p in (1, 2)]
        hall = await catalog.add_auditorium(conn, None, AuditoriumIn(venue_id, slug, slug, seats))
        made = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=hall.id,
                starts_at=datetime.now(UTC) + timedelta(days=30),
                prices=[Price("adult", 1000)],
                **screening,
            ),
        )
    return made.id


def expected(path: str, status: str, start: str, seat: str) -> str:
    """The one table of what a claim of A1 answers."""
    if status == "cancelled":
        return "screening cancelled"
    if path != "block":
        if status == "scheduled":
            return "not on sale"
        if start == "started":
            return "sales closed"
    return "claimed" if seat in ("free", "dead hold") else "taken"


def outcome(response: httpx.Response) -> str:
    if response.status_code in (200, 201):
        return "claimed"
    assert response.status_code == 409, response.text
    reason: str = response.json()["reason"]
    return "taken" if reason in ("seats taken", "not enough seats") else reason


async def test_every_path_agrees_on_every_combination(client, demo, staff):
    combinations = itertools.product(STATUSES, STARTS, SEATS, PATHS)
    for n, (status, start, seat, path) in enumerate(combinations):
        screening = await two_seats(demo)
        # A2: held by the client that adds A1 to its hold (and, for best available, not free).
        own = await hold(client, screening, {"seats": ["A2"]}, client_id=f"changer-{n}")
        assert own.status_code == 201, own.text
        if seat != "free":
            other = await hold(client, screening, {"seats": ["A1"]}, client_id=f"other-{n}")
            assert other.status_code == 201, other.text
            if seat == "dead hold":
                await backdate(demo, other.json()["id"])
            elif seat == "booked":
                booked = await client.post(
                    f"/v1/holds/{other.json()['id']}/confirm",
                    json=confirm_body(["A1"]),
                    headers={**token_of(other), "Idempotency-Key": "k"},
                )
                assert booked.status_code == 201, booked.text
            elif seat == "blocked":
                released = await client.delete(
                    f"/v1/holds/{other.json()['id']}", headers=token_of(other)
                )
                assert released.status_code == 204
                blocked = await client.post(
                    f"/v1/screenings/{screening}/blocks", json={"seats": ["A1"]}, headers=staff
                )
                assert blocked.status_code == 201, blocked.text
        async with demo.acquire() as conn:
            await conn.execute(
                """
                UPDATE screening SET
                    status = CASE WHEN $2 = 'due' THEN 'scheduled' ELSE $2 END,
                    on_sale_at = CASE WHEN $2 = 'due' THEN now() - interval '1 second' END,
                    starts_at = CASE WHEN $3 THEN now() - interval '1 minute' ELSE starts_at END
                WHERE id = $1
                """,
                screening,
                status,
                start == "started",
            )
        if path == "hold":
            response = await hold(client, screening, {"seats": ["A1"]}, client_id=f"new-{n}")
        elif path == "best available":
            response = await hold(client, screening, {"count": 1}, client_id=f"new-{n}")
        elif path == "add":
            response = await client.patch(
                f"/v1/holds/{own.json()['id']}", json={"add": ["A1"]}, headers=token_of(own)
            )
        else:
            response = await client.post(
                f"/v1/screenings/{screening}/blocks", json={"seats": ["A1"]}, headers=staff
            )
        assert outcome(response) == expected(path, status, start, seat), (
            status,
            start,
            seat,
            path,
            response.text,
        )


# -- on sale at a set time -----------------------------------------------------------------------


async def test_a_screening_goes_on_sale_at_its_time_exactly_once(api, demo):
    on_sale_at = datetime.now(UTC) + timedelta(hours=1)
    screening = await two_seats(demo, status="scheduled", on_sale_at=on_sale_at)
    async with httpx.AsyncClient(base_url=api) as http:
        early = await http.post(
            f"/v1/screenings/{screening}/holds", json={"count": 1}, headers=caller("a")
        )
        assert early.status_code == 409, early.text
        assert early.json()["reason"] == "not on sale"
        assert datetime.fromisoformat(early.json()["on_sale_at"]) == on_sale_at
        assert (await http.get(f"/v1/screenings/{screening}")).json()["status"] == "scheduled"
        async with demo.acquire() as conn:  # the time comes (no worker runs)
            await conn.execute(
                "UPDATE screening SET on_sale_at = now() - interval '1 second' WHERE id = $1",
                screening,
            )
        assert (await http.get(f"/v1/screenings/{screening}")).json()["status"] == "on_sale"
        seat_map = (await http.get(f"/v1/screenings/{screening}/seats")).json()
        assert seat_map["status"] == "on_sale"
    async with clients(api, 2) as made:
        answers = await at_once(
            [
                lambda n=n: made[n].post(
                    f"/v1/screenings/{screening}/holds",
                    json={"count": 1},
                    headers=caller(f"early-bird-{n}"),
                )
                for n in range(2)
            ]
        )
    assert [r.status_code for r in answers] == [201, 201]
    went = [
        e
        for e in await events(demo, "screening.went_on_sale")
        if e["screening_id"] == str(screening)
    ]
    assert len(went) == 1
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM screening WHERE id = $1", screening) in (
            "on_sale",
            "sold_out",
        )


async def test_the_sweep_puts_a_screening_on_sale_once_when_no_one_holds(demo):
    screening = await two_seats(
        demo, status="scheduled", on_sale_at=datetime.now(UTC) + timedelta(hours=1)
    )
    async with demo.acquire() as conn:
        await conn.execute(
            "UPDATE screening SET on_sale_at = now() - interval '1 second' WHERE id = $1",
            screening,
        )
        for _ in range(2):
            await service.sweep_expired_holds(conn, datetime.now(UTC))
        assert await conn.fetchval("SELECT status FROM screening WHERE id = $1", screening) == (
            "on_sale"
        )
    went = [
        e
        for e in await events(demo, "screening.went_on_sale")
        if e["screening_id"] == str(screening)
    ]
    assert len(went) == 1


# -- Idempotency-Key on a new hold ---------------------------------------------------------------


async def test_a_retried_hold_answers_the_same_hold(client, demo):
    screening = await two_seats(demo)
    key = {**caller("retrier"), "Idempotency-Key": "hold-1"}
    url = f"/v1/screenings/{screening}/holds"
    first = await client.post(url, json={"count": 1}, headers=key)
    assert first.status_code == 201, first.text
    again = await client.post(url, json={"count": 1}, headers=key)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["token"] == first.json()["token"]
    assert (
        await client.get(f"/v1/holds/{first.json()['id']}", headers=token_of(again))
    ).status_code == 200
    other = await client.post(url, json={"count": 2}, headers=key)
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    someone = await client.post(url, json={"count": 1}, headers={**key, **caller("someone")})
    assert someone.status_code == 201  # a key is the client's own
    assert someone.json()["id"] != first.json()["id"]


@pytest.mark.slow
async def test_concurrent_retries_with_one_key_hold_once(api, demo):
    screening = await two_seats(demo)
    async with clients(api, 8) as made:
        answers = await at_once(
            [
                lambda c=c: c.post(
                    f"/v1/screenings/{screening}/holds",
                    json={"count": 1},
                    headers={**caller("flaky"), "Idempotency-Key": "once"},
                )
                for c in made
            ]
        )
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    async with demo.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM hold WHERE screening_id = $1", screening) == 1
        )
