"""Races through a real API server process: many clients at once, then the final state checked
against every answer. PostgreSQL arbitrates; these tests look for a seat sold twice, a partial
hold, a deadlock (it would answer 500), a lost or doubled status flip."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from services.box_office import service
from tests.integration.box_office.helpers import confirm_body, events
from tests.integration.racing import at_once, caller, clients

pytestmark = pytest.mark.slow
ROWS = "ABCDEFGH"


async def seat_map(url: str, screening: UUID) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url) as client:
        body = (await client.get(f"/v1/screenings/{screening}/seats")).json()
    return {seat["label"]: seat["status"] for seat in body["seats"]}


def assert_clean_refusal(response: httpx.Response, asked: list[str] | None = None) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if asked is not None:
        assert response.json()["seats"], response.text
        assert set(response.json()["seats"]) <= set(asked)


async def hold_via(client: httpx.AsyncClient, screening: UUID, body: dict[str, Any], who: str):
    return await client.post(f"/v1/screenings/{screening}/holds", json=body, headers=caller(who))


async def test_200_clients_on_overlapping_seats(api, small, demo):
    rng = random.Random(4)
    plans: list[tuple[int, dict[str, Any]]] = []
    for n in range(200):
        for _ in range(2):
            if rng.random() < 0.25:
                plans.append((n, {"count": rng.randint(1, 3)}))
            else:
                row, start, size = rng.choice(ROWS[:4]), rng.randint(2, 8), rng.randint(1, 4)
                plans.append((n, {"seats": [f"{row}{p}" for p in range(start, start + size)]}))
    async with clients(api, 200) as made:
        answers = await at_once(
            [
                lambda n=n, body=body: hold_via(made[n], small, body, f"client-{n}")
                for n, body in plans
            ]
        )
    held: list[set[str]] = []
    for (_, body), response in zip(plans, answers, strict=True):
        if response.status_code == 201:
            labels = {seat["label"] for seat in response.json()["seats"]}
            if "seats" in body:
                assert labels == set(body["seats"])
            held.append(labels)
        else:
            assert_clean_refusal(response, body.get("seats"))
    everything = [label for labels in held for label in labels]
    assert len(everything) == len(set(everything))  # no seat held twice
    statuses = await seat_map(api, small)
    assert {label for label, status in statuses.items() if status == "held"} == set(everything)
    async with demo.acquire() as conn:
        live = await conn.fetch("SELECT id, seat_ids FROM hold WHERE status = 'live'")
        claims = Counter(
            row["hold_id"] for row in await conn.fetch("SELECT hold_id FROM seat_claim")
        )
    assert len(live) == len(held)
    assert all(claims[row["id"]] == len(row["seat_ids"]) for row in live)  # no partial hold
    print(f"\n{len(held)} holds of {len(plans)} requests, {len(everything)} seats held")


async def test_a_rush_sells_every_seat_once_and_sells_out_once(api, small, staff, demo):
    async with httpx.AsyncClient(base_url=api) as client:
        blocked = await client.post(
            f"/v1/screenings/{small}/blocks",
            json={"seats": ["J1", "J2", "J3", "J4"]},
            headers=staff,
        )
        assert blocked.status_code == 201
    rng = random.Random(7)

    async def patron(client: httpx.AsyncClient, n: int) -> list[str]:
        """Wants a few seats together; settles for fewer when none are left."""
        bought: list[str] = []
        wanted = rng.randint(1, 4)
        for attempt in range(wanted):
            response = await hold_via(client, small, {"count": wanted - attempt}, f"p{n}")
            if response.status_code != 201:
                assert_clean_refusal(response)
                continue
            labels = [seat["label"] for seat in response.json()["seats"]]
            confirm = await client.post(
                f"/v1/holds/{response.json()['id']}/confirm",
                json=confirm_body(labels),
                headers={"X-Hold-Token": response.json()["token"], "Idempotency-Key": f"{attempt}"},
            )
            assert confirm.status_code == 201, confirm.text
            bought += labels
            break
        return bought

    async with clients(api, 200) as made:
        bought = await at_once([lambda c=c, n=n: patron(c, n) for n, c in enumerate(made)])
    sold = [label for labels in bought for label in labels]
    assert len(sold) == len(set(sold)) == 88  # every seat on sale, each once
    assert set((await seat_map(api, small)).values()) == {"booked", "blocked"}
    assert len(await events(demo, "screening.sold_out")) == 1
    async with demo.acquire() as conn:
        assert (
            await conn.fetchval("SELECT status FROM screening WHERE id = $1", small) == "sold_out"
        )
        assert await conn.fetchval("SELECT sum(cardinality(seat_ids)) FROM hold") == 88


async def test_the_last_seats_taken_at_once_flip_the_status_once(api, small, staff, demo):
    every_seat = [f"{row}{n}" for row in ROWS for n in range(1, 12)] + ["J1", "J2", "J3", "J4"]
    async with httpx.AsyncClient(base_url=api) as client:
        await client.post(
            f"/v1/screenings/{small}/blocks", json={"seats": every_seat[2:]}, headers=staff
        )
    rounds = 8
    async with clients(api, 2) as (one, two):
        for round_ in range(rounds):
            first, second = await at_once(
                [
                    lambda: hold_via(one, small, {"seats": ["A1"]}, "one"),
                    lambda: hold_via(two, small, {"seats": ["A2"]}, "two"),
                ]
            )
            assert (first.status_code, second.status_code) == (201, 201), round_
            released = await at_once(
                [
                    lambda c=c, r=r: c.delete(
                        f"/v1/holds/{r.json()['id']}", headers={"X-Hold-Token": r.json()["token"]}
                    )
                    for c, r in ((one, first), (two, second))
                ]
            )
            assert [r.status_code for r in released] == [204, 204]
    sold_out = await events(demo, "screening.sold_out")
    back = await events(demo, "screening.back_on_sale")
    assert (len(sold_out), len(back)) == (rounds, rounds)
    async with demo.acquire() as conn:
        flips = await conn.fetch(
            "SELECT event_type FROM outbox WHERE event_type LIKE 'screening.%' ORDER BY position"
        )
    kinds = [row["event_type"] for row in flips if row["event_type"] != "screening.scheduled"]
    assert kinds == ["screening.sold_out", "screening.back_on_sale"] * rounds


async def _holds(api: str, screening: UUID, labels: list[str]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=api) as client:
        made = [await hold_via(client, screening, {"seats": [label]}, label) for label in labels]
    assert all(response.status_code == 201 for response in made)
    return [response.json() for response in made]


async def test_confirm_racing_expiry(api, small, demo):
    labels = [f"{row}{n}" for row in "ABC" for n in range(2, 11)]
    holds = await _holds(api, small, labels)
    async with demo.acquire() as conn:
        expiry: dict[str, datetime] = {}
        for index, made in enumerate(holds):
            expiry[made["id"]] = await conn.fetchval(
                """
                WITH h AS (UPDATE hold SET created_at = now() - interval '1 minute',
                                           expires_at = now() + make_interval(secs => $2)
                           WHERE id = $1 RETURNING expires_at)
                UPDATE seat_claim SET expires_at = (SELECT expires_at FROM h) WHERE hold_id = $1
                RETURNING expires_at
                """,
                UUID(made["id"]),
                0.6 + 0.01 * index,
            )

    async def at(moment: datetime, spread: tuple[float, float], call: Callable[[], Awaitable[Any]]):
        delay = (moment - datetime.now(moment.tzinfo)).total_seconds()
        await asyncio.sleep(max(0.0, delay + random.uniform(*spread)))
        return await call()

    async def expire(hold_id: str) -> None:
        async with demo.acquire() as conn:
            now = datetime.now(expiry[hold_id].tzinfo)
            await service.expire_hold(conn, UUID(hold_id), now)

    calls = []
    async with clients(api, 2 * len(holds)) as made:
        for index, (label, held) in enumerate(zip(labels, holds, strict=True)):
            moment = expiry[held["id"]]
            confirmer, rival = made[2 * index], made[2 * index + 1]
            calls += [
                lambda c=confirmer, h=held, lb=label, m=moment: at(
                    m,
                    (-0.15, 0.05),
                    lambda: c.post(
                        f"/v1/holds/{h['id']}/confirm",
                        json=confirm_body([lb]),
                        headers={"X-Hold-Token": h["token"], "Idempotency-Key": "k"},
                    ),
                ),
                lambda c=rival, lb=label, m=moment: at(
                    m, (-0.05, 0.1), lambda: hold_via(c, small, {"seats": [lb]}, f"rival-{lb}")
                ),
                lambda h=held, m=moment: at(m, (0.0, 0.05), lambda: expire(h["id"])),
            ]
        answers = await asyncio.gather(*(call() for call in calls))
    statuses = await seat_map(api, small)
    outcomes = Counter()
    async with demo.acquire() as conn:
        for index, (label, held) in enumerate(zip(labels, holds, strict=True)):
            confirm, rival = answers[3 * index], answers[3 * index + 1]
            assert confirm.status_code in (201, 410), confirm.text
            assert rival.status_code in (201, 409), rival.text
            booked = await conn.fetchval(
                "SELECT count(*) FROM booking WHERE hold_id = $1", UUID(held["id"])
            )
            expired_events = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE event_type = 'hold.expired'"
                " AND aggregate_id = $1",
                held["id"],
            )
            if confirm.status_code == 201:
                assert rival.status_code == 409  # never sold and held at once
                assert (booked, expired_events, statuses[label]) == (1, 0, "booked")
            else:
                assert booked == 0
                assert expired_events <= 1
                assert statuses[label] == ("held" if rival.status_code == 201 else "available")
            outcomes[(confirm.status_code, rival.status_code)] += 1
    print(f"\nconfirm vs expiry outcomes (confirm, rival): {dict(outcomes)}")


async def test_a_confirm_retried_from_several_clients_at_once(api, small, demo):
    holds = await _holds(api, small, ["D2", "D3", "D4", "D5", "D6"])
    async with clients(api, 8 * len(holds)) as made:
        calls = [
            lambda c=made[8 * i + j], h=held: c.post(
                f"/v1/holds/{h['id']}/confirm",
                json=confirm_body([h["seats"][0]["label"]]),
                headers={"X-Hold-Token": h["token"], "Idempotency-Key": f"order-{h['id']}"},
            )
            for i, held in enumerate(holds)
            for j in range(8)
        ]
        answers = await at_once(calls)
    for i, held in enumerate(holds):
        mine = answers[8 * i : 8 * i + 8]
        assert sorted(r.status_code for r in mine) == [200] * 7 + [201], held
        assert len({r.content for r in mine}) == 1  # the same booking, secret included
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM booking") == len(holds)
    assert len(await events(demo, "booking.confirmed")) == len(holds)


async def test_release_racing_confirm(api, small, demo):
    labels = [f"E{n}" for n in range(2, 11)]
    holds = await _holds(api, small, labels)
    async with clients(api, 2 * len(holds)) as made:
        calls = []
        for i, (label, held) in enumerate(zip(labels, holds, strict=True)):
            token = {"X-Hold-Token": held["token"]}
            calls += [
                lambda c=made[2 * i], h=held, t=token, lb=label: c.post(
                    f"/v1/holds/{h['id']}/confirm",
                    json=confirm_body([lb]),
                    headers={**t, "Idempotency-Key": "k"},
                ),
                lambda c=made[2 * i + 1], h=held, t=token: c.delete(
                    f"/v1/holds/{h['id']}", headers=t
                ),
            ]
        answers = await at_once(calls)
    statuses = await seat_map(api, small)
    for i, label in enumerate(labels):
        confirm, release = answers[2 * i], answers[2 * i + 1]
        pair = (confirm.status_code, release.status_code)
        assert pair in ((201, 409), (410, 204)), (pair, confirm.text, release.text)
        assert statuses[label] == ("booked" if confirm.status_code == 201 else "available")


async def test_cancelling_the_screening_racing_confirms(api, small, manager, demo):
    labels = [f"F{n}" for n in range(2, 11)] + [f"G{n}" for n in range(2, 11)]
    holds = await _holds(api, small, labels)

    async def later(seconds: float, call: Callable[[], Awaitable[Any]]) -> Any:
        await asyncio.sleep(seconds)
        return await call()

    async with clients(api, len(holds) + 1) as made:
        # Confirmations spread over ~0.9 s, the cancellation among them.
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda c=made[i], h=held, lb=label, i=i: later(
                0.05 * i,
                lambda: c.post(
                    f"/v1/holds/{h['id']}/confirm",
                    json=confirm_body([lb]),
                    headers={"X-Hold-Token": h["token"], "Idempotency-Key": "k"},
                ),
            )
            for i, (label, held) in enumerate(zip(labels, holds, strict=True))
        ]
        calls.append(
            lambda: later(
                0.3,
                lambda: made[-1].post(
                    f"/v1/screenings/{small}/cancel", json={"reason": "storm"}, headers=manager
                ),
            )
        )
        answers = await at_once(calls)
    cancel = answers.pop()
    assert cancel.status_code == 200, cancel.text
    confirmed = [r for r in answers if r.status_code == 201]
    assert all(r.status_code in (201, 410) for r in answers), [r.text for r in answers]
    async with demo.acquire() as conn:
        bookings = await conn.fetch("SELECT reference, status, refund_due FROM booking")
        holds_left = await conn.fetchval("SELECT count(*) FROM hold WHERE status = 'live'")
        claims = await conn.fetchval("SELECT count(*) FROM seat_claim")
    assert {row["reference"] for row in bookings} == {r.json()["reference"] for r in confirmed}
    assert all((row["status"], row["refund_due"]) == ("cancelled", True) for row in bookings)
    assert (holds_left, claims) == (0, 0)
    flagged = await events(demo, "booking.cancelled")
    released = await events(demo, "hold.released")
    assert len(flagged) == len(confirmed)
    assert len(released) == len(holds) - len(confirmed)
    print(f"\n{len(confirmed)} confirmed before the cancellation, {len(released)} released")
