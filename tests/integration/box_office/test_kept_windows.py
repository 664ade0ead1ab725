"""Best available's kept windows (migrations 029, 030): the windows a choice found and its
request did not take serve the next requests for a second, each window one request's, none
leaving a single seat beside another; seats freed meanwhile are offered at once; older windows
are never used."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import asyncpg
import httpx

from schemas.catalog import SeatIn
from services.box_office import service as box_office
from services.box_office import store
from tests.integration.box_office.helpers import Client, hold, token_of
from tests.integration.box_office.test_best_available import (
    PLAIN,
    free_runs,
    new_screening,
    reference,
    row_end_pairs,
)
from tests.integration.events.conftest import wait_until
from tests.integration.racing import at_once, caller, clients


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


async def waiting_on_a_lock(pool: asyncpg.Pool, task: asyncio.Future[Any]) -> None:
    """Until a backend of this database waits on a lock (`task`'s, the only one running), or
    `task` is done."""

    async def waiting_or_done() -> bool:
        waits = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        return task.done() or waits > 0

    await wait_until(waiting_or_done, within=30, every=0.01)


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
    old = await demo.fetchval(
        "SELECT count(*) FROM seat_window WHERE screening_id = $1"
        " AND chosen_at < clock_timestamp() - interval '1 second'",
        big,
    )
    assert old == 0  # the old windows went; the queue is the new choice's


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


async def test_a_rush_of_pairs_is_never_refused_while_seats_are_free(
    api: str, demo: asyncpg.Pool
) -> None:
    """20 holds of one named seat each and 37 best-available requests for 2 seats, all at once
    through a real server, on a hall of 94 plain seats: the named seats make kept windows stale
    under the requests' feet, and still every pair is held (there are always seats for it: a
    lost race is never a refusal), and no seat twice."""
    seats = row_end_pairs(rows=8)
    screening, _ = await new_screening(demo, seats)
    plain = sorted(seat.label for seat in seats if seat.kind in PLAIN)
    assert len(plain) == 94
    named = random.Random(13).sample(plain, 20)
    async with clients(api, 57) as made:

        def request(n: int, body: dict[str, Any]) -> Callable[[], Awaitable[httpx.Response]]:
            path = f"/v1/screenings/{screening}/holds"
            return lambda: made[n].post(path, json=body, headers=caller(f"patron-{n}"))

        answers = await at_once(
            [request(n, {"seats": [label]}) for n, label in enumerate(named)]
            + [request(n, {"count": 2}) for n in range(20, 57)]
        )
    pairs = answers[20:]
    assert [r.status_code for r in pairs] == [201] * 37, [r.text for r in pairs]
    assert {r.status_code for r in answers[:20]} <= {201, 409}
    held = [seat["label"] for r in answers if r.status_code == 201 for seat in r.json()["seats"]]
    assert len(held) == len(set(held))
    assert set(held) <= set(plain)


async def refills(pool: asyncpg.Pool, screening: UUID) -> list[bool]:
    rows = await pool.fetch(
        "SELECT refill FROM seat_window WHERE screening_id = $1 ORDER BY rank", screening
    )
    return [row["refill"] for row in rows]


async def test_the_request_that_takes_the_marked_window_queues_the_next_ones(
    client: Client, demo: asyncpg.Pool
) -> None:
    """The 32nd window from the end of a choice's is marked; the request that takes it chooses
    the next windows then (migration 031), apart from every window kept and from the seats
    held, and queues them after the others: the queue does not run dry while requests wait in
    line for a choice. (600 seats: one choice keeps the windows around the 256 seats nearest
    the screen's focal point.)"""
    seats = [
        SeatIn(f"R{r}S{p}", f"R{r}", r, p, float(p), float(r))
        for r in range(1, 21)
        for p in range(1, 31)
    ]
    big, _ = await new_screening(demo, seats)
    first = await hold(client, big, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    marks = await refills(demo, big)
    assert len(marks) > 32
    assert marks.index(True) == len(marks) - 32  # the 32nd from the end
    assert sum(marks) == 1
    before = await kept(demo, big)
    # The next request takes the first window kept: mark it instead.
    await demo.execute(
        "UPDATE seat_window SET refill = (rank = (SELECT min(rank) FROM seat_window"
        " WHERE screening_id = $1)) WHERE screening_id = $1",
        big,
    )
    second = await hold(client, big, {"count": 2}, client_id="second")
    assert second.status_code == 201, second.text
    after = await kept(demo, big)
    assert after[: len(before) - 1] == before[1:]  # the others first, as they were
    queued = after[len(before) - 1 :]
    assert len(queued) > 1  # the next ones
    flat = [seat for window in after for seat in window]
    assert len(flat) == len(set(flat))
    held = await seat_ids(demo, big, labels(first) + labels(second))
    assert not set(flat) & set(held)
    assert (await refills(demo, big)).count(True) == 1  # the new choice's mark


async def test_a_fill_through_several_choices_sells_every_seat_once(
    api: str, demo: asyncpg.Pool
) -> None:
    """40 clients at once, each asking for the best 2 seats until refused, on 600 seats: the
    queue is refilled by the requests that take the marked windows while the others take the
    last ones (several choices in all). Every seat is held once, and no request is refused while
    two seats are free (a pair may be split, so only a full hall refuses): nothing asked after
    the first refusal came back is held."""
    seats = [
        SeatIn(f"R{r}S{p}", f"R{r}", r, p, float(p), float(r))
        for r in range(1, 21)
        for p in range(1, 31)
    ]
    screening, _ = await new_screening(demo, seats)
    held: list[tuple[float, list[str]]] = []  # when asked, the seats
    refused: list[tuple[float, str]] = []  # when answered, why
    loop = asyncio.get_running_loop()

    async def patron(http: httpx.AsyncClient, n: int) -> None:
        for k in range(600):
            asked = loop.time()
            answer = await http.post(
                f"/v1/screenings/{screening}/holds",
                json={"count": 2},
                headers=caller(f"fill-{n}-{k}"),
            )
            if answer.status_code != 201:
                refused.append((loop.time(), answer.json()["reason"]))
                return
            held.append((asked, [seat["label"] for seat in answer.json()["seats"]]))

    async with clients(api, 40) as made:
        await at_once([lambda n=n: patron(made[n], n) for n in range(40)])
    labels = [label for _, pair in held for label in pair]
    assert sorted(labels) == sorted(seat.label for seat in seats)  # each seat once
    assert {reason for _, reason in refused} == {"not enough seats"}
    first_refusal = min(at for at, _ in refused)
    assert all(asked < first_refusal for asked, _ in held)


async def test_seats_another_request_is_taking_are_waited_for_not_refused(
    demo: asyncpg.Pool,
) -> None:
    """The only seats left are being taken by a transaction not yet committed: best available
    waits for its fate (box_office_claim raises UH503 and store.claim asks again, waiting),
    and when it rolls back holds them. Losing a race for seats that fit is never a refusal."""
    seats = [SeatIn(f"A{p}", "A", 1, p, float(p), 1.0) for p in (1, 2)]
    screening, _ = await new_screening(demo, seats)
    both = await seat_ids(demo, screening, ["A1", "A2"])
    async with demo.acquire() as other, demo.acquire() as asker:
        transaction = other.transaction()
        await transaction.start()
        now = datetime.now(UTC)
        taking = await store.claim(
            cast(asyncpg.Connection, other),
            store.ClaimIn(kind="block", screening_id=screening, now=now, seat_ids=both, note="x"),
        )
        assert taking.outcome == "blocked"
        asked = asyncio.create_task(
            store.claim(
                cast(asyncpg.Connection, asker),
                store.ClaimIn(kind="block", screening_id=screening, now=now, count=2, note="y"),
            )
        )
        await waiting_on_a_lock(demo, asked)
        await transaction.rollback()
        claimed = await asked
    assert claimed.outcome == "blocked", claimed
    assert sorted(claimed.seat_ids or []) == sorted(both)


async def test_the_hold_sweep_forgets_windows_kept_over_a_minute(
    client: Client, big: UUID, demo: asyncpg.Pool
) -> None:
    first = await hold(client, big, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    left = len(await kept(demo, big))
    await demo.execute(
        "UPDATE seat_window SET chosen_at = chosen_at - interval '2 minutes' "
        "WHERE screening_id = $1 AND rank = 1",
        big,
    )
    async with demo.acquire() as conn:
        await box_office.sweep_expired_holds(cast(asyncpg.Connection, conn), datetime.now(UTC))
    assert len(await kept(demo, big)) == left - 1  # the old one gone, the others kept


def singles(seats: list[SeatIn], taken: set[str]) -> set[str]:
    """The free plain seats with no free neighbour to sit beside."""
    return {run[0].label for run in free_runs(seats, taken, 0) if len(run) == 1}


async def test_the_windows_a_choice_keeps_leave_no_single_seat_between_them(
    demo: asyncpg.Pool,
) -> None:
    """Each kept window is one best available could take alone leaving no single seat, none
    shares a seat with another, and all of them taken together leave no single seat that was
    not one before (two windows with one seat between them would). Random wide halls, with
    seats already taken at random."""
    rng = random.Random(30)
    for _ in range(12):
        seats = []
        for r in range(1, rng.randint(2, 6) + 1):
            width = rng.randint(6, 30)
            aisle = rng.randint(0, width)
            for p in range(1, width + 1):
                x = float(p + (1 if aisle and p > aisle else 0))
                seats.append(SeatIn(f"R{r}S{p}", f"R{r}", r, p, x, float(r)))
        screening, hall = await new_screening(demo, seats)
        ids = {
            row["id"]: row["label"]
            for row in await demo.fetch("SELECT id, label FROM seat WHERE auditorium_id = $1", hall)
        }
        for _ in range(4):
            taken = {seat.label for seat in seats if rng.random() < 0.3}
            count = rng.randint(1, 3)
            row = await demo.fetchrow(
                "SELECT * FROM box_office_choose($1, $2, $3, 0, false, $4)",
                screening,
                hall,
                count,
                [i for i, label in ids.items() if label in taken],
            )
            if row["how"] != "together":
                continue
            found = [ids[i] for i in row["seat_ids"] + (row["more"] or [])]
            windows = [found[n : n + count] for n in range(0, len(found), count)]
            clean, _ = reference(seats, taken, count, 0)
            assert all(w in [[s.label for s in c] for c in clean] for w in windows), windows
            assert len(found) == len(set(found))
            after = singles(seats, taken | set(found))
            assert after <= singles(seats, taken), (windows, after - singles(seats, taken))


async def none_side_by_side(client: Client, demo: asyncpg.Pool, staff: dict[str, str]) -> UUID:
    """A screening of 8 rows of 8 with every other seat blocked by staff: no two free seats are
    side by side."""
    seats = [
        SeatIn(f"R{r}S{p}", f"R{r}", r, p, float(p), float(r))
        for r in range(1, 9)
        for p in range(1, 9)
    ]
    screening, _ = await new_screening(demo, seats)
    every_other = [seat.label for seat in seats if seat.position % 2 == 0]
    blocked = await client.post(
        f"/v1/screenings/{screening}/blocks", json={"seats": every_other}, headers=staff
    )
    assert blocked.status_code == 201, blocked.text
    return screening


async def test_split_over_two_rows_keeps_the_next_pairs_of_rows(
    client: Client, demo: asyncpg.Pool, staff: dict[str, str]
) -> None:
    """Every other seat taken, so no two free seats are side by side: the first request's pair
    is split over two rows, and the next pairs of rows, apart from each other, wait for the
    next requests (else every request of the end of a sale would choose in turn)."""
    screening = await none_side_by_side(client, demo, staff)
    first = await hold(client, screening, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    assert first.json()["placement"] == "split over two rows"
    left = await kept(demo, screening)
    assert len(left) >= 3
    flat = [seat for window in left for seat in window]
    assert len(flat) == len(set(flat))
    second = await hold(client, screening, {"count": 2}, client_id="second")
    assert second.json()["placement"] == "split over two rows"
    taken = set(await seat_ids(demo, screening, labels(second)))
    assert taken in [set(window) for window in left]  # the next pair of rows, kept


async def test_a_party_that_must_sit_together_is_never_given_a_kept_split_pair(
    client: Client, demo: asyncpg.Pool, staff: dict[str, str]
) -> None:
    """Kept windows serve the next requests for as many seats, but a pair split over two rows
    only those that may be split: with no two seats side by side left, a party that must sit
    together is refused ('no seats together'), not handed the pair of rows a choice kept."""
    screening = await none_side_by_side(client, demo, staff)
    first = await hold(client, screening, {"count": 2}, client_id="first")
    assert first.json()["placement"] == "split over two rows", first.text
    assert await kept(demo, screening)
    # Kept as if just chosen for as long as the test runs (a request that passed them over
    # and then waited in line for a choice while they were left would go round till they aged).
    await demo.execute(
        "UPDATE seat_window SET chosen_at = now() + interval '1 hour' WHERE screening_id = $1",
        screening,
    )
    together = await asyncio.wait_for(
        hold(client, screening, {"count": 2, "together": "required"}, client_id="together"), 30
    )
    assert together.status_code == 409, together.text
    assert together.json()["reason"] == "no seats together"
    anyhow = await hold(client, screening, {"count": 2}, client_id="anyhow")
    assert anyhow.json()["placement"] == "split over two rows", anyhow.text


async def test_a_kept_window_is_taken_though_a_claim_holds_a_seat_of_it_as_its_witness(
    client: Client, big: UUID, demo: asyncpg.Pool
) -> None:
    """A claim that leaves seats free keeps the farthest free seat's row KEY SHARE locked until
    it commits, as its witness that one is left (box_office_claim). At the end of a fill that
    seat is in the last kept windows: the request that takes such a window waits for that
    commit (migration 030), where it used to pass the window over and leave its seats for a
    choice after every other request."""
    first = await hold(client, big, {"count": 2}, client_id="first")
    assert first.status_code == 201, first.text
    window = (await kept(demo, big))[0]
    async with demo.acquire() as witness, demo.acquire() as taker:
        transaction = witness.transaction()
        await transaction.start()
        await witness.execute(
            "SELECT 1 FROM seat_free WHERE screening_id = $1 AND seat_id = $2 FOR KEY SHARE",
            big,
            window[0],
        )
        now = datetime.now(UTC)
        second = asyncio.create_task(
            store.claim(
                cast(asyncpg.Connection, taker),
                store.ClaimIn(
                    kind="block", screening_id=big, now=now, count=2, note="the next window"
                ),
            )
        )
        await waiting_on_a_lock(demo, second)
        await transaction.commit()
        claimed = await second
    assert claimed.outcome == "blocked", claimed
    assert sorted(claimed.seat_ids or []) == sorted(window)
