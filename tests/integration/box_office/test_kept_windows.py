"""Best available's kept windows (migration 029): the windows a choice found and its request did
not take serve the next requests for a second, each window one request's; seats freed meanwhile
are offered at once; older windows are never used."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from tests.integration.box_office.helpers import Client, hold, token_of


def labels(response: object) -> list[str]:
    return [seat["label"] for seat in response.json()["seats"]]  # type: ignore[attr-defined]


async def kept(pool: asyncpg.Pool, screening: UUID) -> list[list[UUID]]:
    rows = await pool.fetch(
        "SELECT seat_ids FROM seat_window WHERE screening_id = $1 ORDER BY rank", screening
    )
    return [list(row["seat_ids"]) for row in rows]


async def seat_ids(pool: asyncpg.Pool, screening: UUID, wanted: list[str]) -> list[UUID]:
    rows = await pool.fetch(
        """
        SELECT s.id, s.label FROM seat s JOIN screening sc ON sc.auditorium_id = s.auditorium_id
        WHERE sc.id = $1 AND s.label = ANY($2::text[])
        """,
        screening,
        wanted,
    )
    by_label = {row["label"]: row["id"] for row in rows}
    return [by_label[label] for label in wanted]


async def test_the_next_request_takes_the_window_a_choice_left(
    client: Client, big: UUID, demo: asyncpg.Pool
) -> None:
    first = await hold(client, big, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    left = await kept(demo, big)
    assert len(left) > 1  # the next best windows, apart from each other
    # The next request takes the first window kept, whatever it is: make it a far one.
    far = await seat_ids(demo, big, ["A1", "A2"])
    await demo.execute(
        "UPDATE seat_window SET seat_ids = $2 WHERE screening_id = $1 AND rank = 1", big, far
    )
    second = await hold(client, big, {"count": 2}, client_id="second")
    assert labels(second) == ["A1", "A2"]
    assert len(await kept(demo, big)) == len(left) - 1  # taken from the queue


async def test_windows_older_than_a_second_are_not_used(
    client: Client, big: UUID, demo: asyncpg.Pool
) -> None:
    first = await hold(client, big, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    best_next = (await kept(demo, big))[0]
    far = await seat_ids(demo, big, ["A1", "A2"])
    await demo.execute(
        "UPDATE seat_window SET seat_ids = $2 WHERE screening_id = $1 AND rank = 1", big, far
    )
    await demo.execute(
        "UPDATE seat_window SET chosen_at = chosen_at - interval '2 seconds' "
        "WHERE screening_id = $1",
        big,
    )
    second = await hold(client, big, {"count": 2}, client_id="second")
    held = await seat_ids(demo, big, labels(second))
    assert held == best_next  # chosen afresh: the best, not the old window
    assert far not in await kept(demo, big)


async def test_seats_freed_are_offered_at_once(
    client: Client, big: UUID, demo: asyncpg.Pool
) -> None:
    first = await hold(client, big, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    assert await kept(demo, big)
    released = await client.delete(f"/v1/holds/{first.json()['id']}", headers=token_of(first))
    assert released.status_code in (200, 204), released.text
    assert await kept(demo, big) == []  # freed seats empty the queue
    again = await hold(client, big, {"count": 2}, client_id="second")
    assert labels(again) == labels(first)  # the best seats, given back, go first
