"""Best available, chosen and claimed by PostgreSQL (migration 014): its choice against a
brute-force reference, halls sold out one request at a time, a rush of single-seat requests
through a real server, and the cap of seats one client holds per screening."""

from __future__ import annotations

import itertools
import random
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from schemas.catalog import AuditoriumIn, Price, ScreeningIn, SeatIn, SeatKind
from services.catalog import service as catalog
from tests.integration.racing import at_once, caller, clients

PLAIN = ("standard", "aisle", "restricted_view")


async def new_screening(pool: asyncpg.Pool, seats: list[SeatIn]) -> tuple[UUID, UUID]:
    """A screening, next month, in a new auditorium of these seats: (screening, auditorium)."""
    async with pool.acquire() as conn:
        venue_id = await conn.fetchval("SELECT id FROM venue ORDER BY slug LIMIT 1")
        slug = f"hall-{secrets.token_hex(4)}"
        hall = await catalog.add_auditorium(conn, None, AuditoriumIn(venue_id, slug, slug, seats))
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=hall.id,
                starts_at=datetime.now(UTC) + timedelta(days=30),
                prices=[Price("adult", 1000)],
            ),
        )
    return screening.id, hall.id


def row_end_pairs(rows: int = 6) -> list[SeatIn]:
    """Rows of 12: a pair, an aisle, eight seats, an aisle, a pair; row C has a wheelchair space
    and its companion seat at the left end, row D a restricted-view pair at the right."""
    seats = []
    for r in range(1, rows + 1):
        row = "ABCDEFGHIJ"[r - 1]
        for p in range(1, 13):
            x = p + (1 if p > 2 else 0) + (1 if p > 10 else 0)
            kind: SeatKind = "standard"
            if row == "C" and p in (1, 2):
                kind = "wheelchair" if p == 1 else "companion"
            if row == "D" and p > 10:
                kind = "restricted_view"
            seats.append(SeatIn(f"{row}{p}", row, r, p, float(x), float(r), kind))
    return seats


# -- the choice against a reference --------------------------------------------------------------


def free_runs(seats: list[SeatIn], taken: set[str], wheelchair: int) -> list[list[SeatIn]]:
    """The runs of free seats side by side, cut by aisles; without a need only plain seats
    count."""
    runs: list[list[SeatIn]] = []
    for row in sorted({seat.row_number for seat in seats}):
        ordered = sorted((s for s in seats if s.row_number == row), key=lambda s: s.position)
        narrowest = min((b.x - a.x for a, b in itertools.pairwise(ordered)), default=1.0)
        current: list[SeatIn] = []
        for seat in ordered:
            usable = seat.label not in taken and (wheelchair or seat.kind in PLAIN)
            if not usable or (current and seat.x - current[-1].x > narrowest * 1.5):
                if current:
                    runs.append(current)
                current = []
            if usable:
                current.append(seat)
        if current:
            runs.append(current)
    return runs


def reference(
    seats: list[SeatIn], taken: set[str], count: int, wheelchair: int
) -> tuple[list[list[SeatIn]], list[list[SeatIn]]]:
    """Every window best available may take (in the runs of free seats), as (leaving no single
    seat, leaving one)."""
    clean: list[list[SeatIn]] = []
    orphaned: list[list[SeatIn]] = []
    for run in free_runs(seats, taken, wheelchair):
        for start in range(len(run) - count + 1):
            window = run[start : start + count]
            chairs = [s.position for s in window if s.kind == "wheelchair"]
            if len(chairs) != wheelchair or any(
                s.kind == "companion" and not {s.position - 1, s.position + 1} & set(chairs)
                for s in window
            ):
                continue
            orphan = start == 1 or len(run) - start - count == 1
            (orphaned if orphan else clean).append(window)
    return clean, orphaned


def distance(seats: list[SeatIn], window: list[SeatIn]) -> float:
    """From the window's centre to the focal point (the centre of the seats' bounding box)."""
    xs, ys = [s.x for s in seats], [s.y for s in seats]
    fx, fy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    cx = sum(s.x for s in window) / len(window)
    cy = sum(s.y for s in window) / len(window)
    return (cx - fx) ** 2 + (cy - fy) ** 2


def random_hall(rng: random.Random) -> list[SeatIn]:
    seats = []
    for r in range(1, rng.randint(1, 5) + 1):
        width = rng.randint(1, 12)
        aisle = rng.randint(0, width)
        for p in range(1, width + 1):
            kind: SeatKind = rng.choice(["standard"] * 6 + ["aisle", "wheelchair", "companion"])
            x = float(p + (1 if aisle and p > aisle else 0))
            seats.append(SeatIn(f"R{r}S{p}", f"R{r}", r, p, x, float(r), kind))
    return seats


async def test_the_choice_is_the_best_window_the_reference_finds(demo):
    rng = random.Random(13)
    for _ in range(40):
        seats = random_hall(rng)
        screening, hall = await new_screening(demo, seats)
        async with demo.acquire() as conn:
            ids = {
                row["label"]: row["id"]
                for row in await conn.fetch(
                    "SELECT label, id FROM seat WHERE auditorium_id = $1", hall
                )
            }
            for _ in range(5):
                taken = {seat.label for seat in seats if rng.random() < 0.4}
                count, wheelchair = rng.randint(1, 5), rng.randint(0, 2)
                row = await conn.fetchrow(
                    "SELECT * FROM box_office_choose($1, $2, $3, $4, true, $5)",
                    screening,
                    hall,
                    count,
                    wheelchair,
                    [ids[label] for label in taken],
                )
                clean, orphaned = reference(seats, taken, count, wheelchair)
                candidates = clean or orphaned
                if not candidates:
                    assert row["seat_ids"] is None, (seats, taken, count, wheelchair)
                    continue
                by_id = {ids[s.label]: s for s in seats}
                chosen = [by_id[seat_id] for seat_id in row["seat_ids"]]
                assert [s.label for s in chosen] in [[s.label for s in w] for w in candidates]
                assert row["how"] == ("together" if clean else "together, leaving a single seat")
                best = min(distance(seats, window) for window in candidates)
                assert distance(seats, chosen) == pytest.approx(best, abs=1e-9)


# -- selling every seat -------------------------------------------------------------------------


async def sell_out(url: str, screening: UUID, count: int) -> tuple[list[str], dict[str, Any]]:
    """Best available `count` at a time, one request after another (each from a new client),
    until refused; the seats held and the refusal."""
    held: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for n in itertools.count():
            response = await client.post(
                f"/v1/screenings/{screening}/holds",
                json={"count": count},
                headers=caller(f"seller-{n}"),
            )
            if response.status_code != 201:
                assert response.status_code == 409, response.text
                return held, response.json()
            seats = [seat["label"] for seat in response.json()["seats"]]
            assert len(seats) == count
            held += seats


@pytest.mark.parametrize("count", [1, 2])
async def test_every_sellable_seat_sells_one_request_at_a_time(api, demo, count):
    seats = row_end_pairs()
    screening, _ = await new_screening(demo, seats)
    held, refusal = await sell_out(api, screening, count)
    plain = {seat.label for seat in seats if seat.kind in PLAIN}
    assert len(held) == len(set(held))
    assert set(held) == plain  # 70 plain seats: pairs at row ends included, chair spaces kept
    assert refusal["reason"] == "not enough seats"


async def test_a_wheelchair_space_sells_with_its_companion_seat(api, demo):
    screening, _ = await new_screening(demo, row_end_pairs())
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.post(
            f"/v1/screenings/{screening}/holds",
            json={"count": 2, "wheelchair_spaces": 1},
            headers=caller("chair"),
        )
    assert response.status_code == 201, response.text
    assert [seat["label"] for seat in response.json()["seats"]] == ["C1", "C2"]


@pytest.mark.slow
async def test_a_rush_of_single_seats_sells_the_house(api, demo):
    """600 requests from 120 clients, one seat each, at once: every plain seat is held, and no
    request is refused while one is free."""
    seats = row_end_pairs(rows=8)
    screening, _ = await new_screening(demo, seats)
    plain = {seat.label for seat in seats if seat.kind in PLAIN}
    async with clients(api, 120) as made:
        answers = await at_once(
            [
                lambda n=n: made[n % 120].post(
                    f"/v1/screenings/{screening}/holds",
                    json={"count": 1},
                    headers=caller(f"rush-{n}"),
                )
                for n in range(600)
            ]
        )
    statuses = Counter(response.status_code for response in answers)
    assert set(statuses) <= {201, 409}, statuses
    held = [r.json()["seats"][0]["label"] for r in answers if r.status_code == 201]
    assert len(held) == len(set(held))
    assert set(held) == plain, statuses
    assert {r.json()["reason"] for r in answers if r.status_code == 409} == {"not enough seats"}


# -- the cap of seats held per client and screening ----------------------------------------------


async def test_one_client_cannot_hold_more_than_the_cap_even_at_once(api, demo):
    """USHER_MAX_HELD_SEATS_PER_SCREENING (20 here): eight requests for 9 seats at once from one
    client: two are held (18 seats), the others refused, whatever the timing."""
    screening, _ = await new_screening(demo, row_end_pairs(rows=10))
    async with clients(api, 8) as made:
        answers = await at_once(
            [
                lambda client=client: client.post(
                    f"/v1/screenings/{screening}/holds",
                    json={"count": 9},
                    headers=caller("greedy"),
                )
                for client in made
            ]
        )
    assert sorted(r.status_code for r in answers) == [201, 201] + [409] * 6
    refusals = [r.json() for r in answers if r.status_code == 409]
    assert {body["reason"] for body in refusals} == {"too many seats held"}
    async with demo.acquire() as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM seat_claim WHERE screening_id = $1 AND kind = 'hold'", screening
        )
    assert held == 18
    async with httpx.AsyncClient(base_url=api) as client:
        pair = await client.post(
            f"/v1/screenings/{screening}/holds",
            json={"count": 2},
            headers=caller("greedy"),
        )
        assert pair.status_code == 201, pair.text  # 20 seats: at the cap
        seat_map = (await client.get(f"/v1/screenings/{screening}/seats")).json()["seats"]
        free = [s["label"] for s in seat_map if s["status"] == "available"]
        mine = [seat["label"] for seat in pair.json()["seats"]]
        change = {"X-Hold-Token": pair.json()["token"]}
        url = f"/v1/holds/{pair.json()['id']}"
        more = await client.patch(url, json={"add": free[:1]}, headers=change)
        assert more.status_code == 409, more.text
        assert more.json()["reason"] == "too many seats held"
        swap = await client.patch(url, json={"add": free[:1], "remove": mine[:1]}, headers=change)
        assert swap.status_code == 200, swap.text  # the seat it gives up makes room
        other = await client.post(
            f"/v1/screenings/{screening}/holds",
            json={"count": 9},
            headers=caller("someone-else"),
        )
        assert other.status_code == 201, other.text
