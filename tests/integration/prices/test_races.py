"""Races for a discount code's uses through a real API server process: many patrons, each with
their own hold, confirm at once with the same code; PostgreSQL (the code's row lock) decides."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from tests.integration.prices.helpers import (
    add_code,
    confirm,
    field_of,
    hold_seats,
    tickets,
    venue_of,
)
from tests.integration.racing import at_once, clients

pytestmark = pytest.mark.slow


async def _holds(api: str, screening, count: int) -> list[tuple[str, dict[str, str], list[str]]]:
    async with clients(api, count) as made:
        return await at_once(
            [
                lambda c=c, n=n: hold_seats(c, screening, {"count": 1}, f"p{n}")
                for n, c in enumerate(made)
            ]
        )


async def test_fifty_patrons_racing_for_the_last_use_get_exactly_one(api, big, staff, demo):
    venue = await venue_of(demo, big)
    async with httpx.AsyncClient(base_url=api) as client:
        code = await add_code(client, venue, staff, code="LASTONE", max_uses=3)
        # Two uses already taken by bookings: one left.
        for n in range(2):
            path, token, labels = await hold_seats(client, big, {"count": 1}, f"early{n}")
            early = await confirm(
                client, path, token, tickets(labels), f"e{n}@example.org", discount_code="LASTONE"
            )
            assert early.status_code == 201, early.text
    holds = await _holds(api, big, 50)
    async with clients(api, 50) as made:
        answers = await at_once(
            [
                lambda c=c, n=n, h=h: confirm(
                    c, h[0], h[1], tickets(h[2]), f"p{n}@example.org", discount_code="lastone"
                )
                for n, (c, h) in enumerate(zip(made, holds, strict=True))
            ]
        )
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 1, 409: 49}, statuses
    for answer in answers:
        if answer.status_code == 409:
            assert field_of(answer) == ("discount_code", "used up")
    assert await demo.fetchval("SELECT count(*) FROM booking WHERE discount_code = 'LASTONE'") == 3
    assert await demo.fetchval("SELECT count(*) FROM discount_use") == 3
    async with httpx.AsyncClient(base_url=api) as client:
        listed = (await client.get(f"/v1/venues/{venue}/discount-codes", headers=staff)).json()
    assert [(c["id"], c["uses"]) for c in listed] == [(code["id"], 3)]
    # The 49 refused still hold their seats and may book without the code.
    refused = [h for h, a in zip(holds, answers, strict=True) if a.status_code == 409]
    async with httpx.AsyncClient(base_url=api) as client:
        plain = await confirm(client, refused[0][0], refused[0][1], tickets(refused[0][2]))
    assert plain.status_code == 201, plain.text


async def test_one_patron_racing_from_many_clients_keeps_to_the_per_patron_limit(
    api, big, staff, demo
):
    venue = await venue_of(demo, big)
    async with httpx.AsyncClient(base_url=api) as client:
        await add_code(client, venue, staff, code="TWICE", per_patron_limit=2)
    holds = await _holds(api, big, 20)
    async with clients(api, 20) as made:
        answers = await at_once(
            [
                lambda c=c, n=n, h=h: confirm(
                    c,
                    h[0],
                    h[1],
                    tickets(h[2]),
                    "Ana@Example.org" if n % 2 else "ana@example.org",
                    discount_code="TWICE",
                )
                for n, (c, h) in enumerate(zip(made, holds, strict=True))
            ]
        )
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 2, 409: 18}, statuses
    assert all(
        field_of(a) == ("discount_code", "patron limit reached")
        for a in answers
        if a.status_code == 409
    )
    assert await demo.fetchval("SELECT count(*) FROM booking WHERE discount_code = 'TWICE'") == 2
