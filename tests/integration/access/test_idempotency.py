"""Idempotency-Key on reserving a device: a retry answers the reservation the key made (secret
included) and never makes a second one, whether it comes later or at the same moment through a
real server; the same key with another request is refused, naming the header."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from tests.integration.access.helpers import events, keep_units, reserve, schedule, secret_of
from tests.integration.box_office.helpers import confirm_body, token_of
from tests.integration.box_office.helpers import hold as make_hold
from tests.integration.racing import at_once, clients

KEY = "0b7f3c1e-5a2d-4e8f-9c61-2d4a8b0e7f35"


def keyed(key: str = KEY, **more: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **more}


def _refused_for_the_key(answer: Any) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert (error["field"], error["source"]) == ("Idempotency-Key", "header")


async def _made_with(db, key: str = KEY) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM device_reservation WHERE idempotency_key_hash = sha256($1::bytea)",
        key.encode(),
    )
    return count


async def test_a_retry_answers_the_same_reservation_and_secret(client, db, day):
    screening = await schedule(db, "cinema-2", day)
    first = await reserve(client, screening, "Ana Pop", headers=keyed())
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await reserve(client, screening, "Ana Pop", headers=keyed())
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()  # the secret too, though only its digest is stored
    seen = await client.get(
        f"/v1/device-reservations/{first.json()['id']}", headers=secret_of(again)
    )
    assert seen.status_code == 200, seen.text
    assert await _made_with(db) == 1
    assert len(await events(db, "device_reservation.reserved")) == 1
    stored = await db.fetchrow("SELECT * FROM device_reservation")
    assert KEY.encode() not in bytes(stored["idempotency_key_hash"])  # a digest, not the key

    # The same key with another body, or for another screening: refused, nothing made.
    _refused_for_the_key(await reserve(client, screening, "Ion Rusu", headers=keyed()))
    _refused_for_the_key(await reserve(client, screening, "Ana Pop", "captioning", headers=keyed()))
    elsewhere = await schedule(db, "cinema-2", day + timedelta(hours=4))
    _refused_for_the_key(await reserve(client, elsewhere, "Ana Pop", headers=keyed()))
    # Another key, or none (as every client did before keys): another reservation each time.
    other = await reserve(client, screening, "Ana Pop", headers=keyed(KEY.replace("0", "1")))
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    plain = [await reserve(client, screening, "Ana Pop") for _ in range(2)]
    assert [p.status_code for p in plain] == [201, 201]
    assert await db.fetchval("SELECT count(*) FROM device_reservation") == 4

    # A retry after the reservation changed answers it as it is now, still with its secret.
    path = f"/v1/device-reservations/{first.json()['id']}/cancel"
    assert (await client.post(path, json={}, headers=secret_of(first))).status_code == 200
    late = await reserve(client, screening, "Ana Pop", headers=keyed())
    assert late.status_code == 200
    assert (late.json()["id"], late.json()["secret"]) == (
        first.json()["id"],
        first.json()["secret"],
    )
    assert (late.json()["status"], late.json()["ended_by"]) == ("cancelled", "patron")


async def test_a_waitlisted_retry_keeps_its_one_place(client, db, day):
    await keep_units(db, "ALS-201")
    screening = await schedule(db, "cinema-2", day)
    assert (await reserve(client, screening, "Ana Pop")).json()["status"] == "reserved"
    first = await reserve(client, screening, "Ion Rusu", headers=keyed())
    assert (first.status_code, first.json()["position"]) == (201, 1)
    again = await reserve(client, screening, "Ion Rusu", headers=keyed())
    assert (again.status_code, again.json()) == (200, first.json())
    later = await reserve(client, screening, "Mei Lin")
    assert later.json()["position"] == 2
    assert len(await events(db, "device_reservation.waitlisted")) == 2


async def test_a_retry_past_the_clients_limit_still_answers(client, db, day):
    screening = await schedule(db, "cinema-1", day)
    made = [
        await reserve(client, screening, f"Patron {n}", headers=keyed(f"{KEY}-{n}"))
        for n in range(4)  # USHER_MAX_DEVICE_RESERVATIONS_PER_CLIENT
    ]
    assert [m.status_code for m in made] == [201] * 4
    fifth = await reserve(client, screening, "Patron 4")
    assert fifth.status_code == 409
    again = await reserve(client, screening, "Patron 3", headers=keyed(f"{KEY}-3"))
    assert (again.status_code, again.json()) == (200, made[3].json())


async def test_a_retry_tied_to_a_hold_needs_the_holds_token_again(client, db, day):
    screening = await schedule(db, "cinema-2", day)
    held = await make_hold(client, screening, {"seats": ["C4"]})
    body = {"hold_id": held.json()["id"]}
    first = await reserve(client, screening, "Ana Pop", headers=keyed(**token_of(held)), **body)
    assert first.status_code == 201, first.text
    again = await reserve(client, screening, "Ana Pop", headers=keyed(**token_of(held)), **body)
    assert (again.status_code, again.json()) == (200, first.json())
    wrong = keyed(**{"X-Hold-Token": "not-the-token"})
    assert (await reserve(client, screening, "Ana Pop", headers=wrong, **body)).status_code == 403
    assert (await reserve(client, screening, "Ana Pop", headers=keyed(), **body)).status_code == 401


async def test_a_retry_tied_to_a_booking_needs_the_bookings_secret_again(client, db, day):
    screening = await schedule(db, "cinema-2", day)
    held = await make_hold(client, screening, {"seats": ["C4"]})
    booked = await client.post(
        f"/v1/holds/{held.json()['id']}/confirm",
        json=confirm_body(["C4"]),
        headers={**token_of(held), "Idempotency-Key": "booked"},
    )
    body = {"booking_reference": booked.json()["reference"]}
    secret = {"X-Booking-Secret": booked.json()["secret"]}
    first = await reserve(client, screening, "Ana Pop", headers=keyed(**secret), **body)
    assert first.status_code == 201, first.text
    again = await reserve(client, screening, "Ana Pop", headers=keyed(**secret), **body)
    assert (again.status_code, again.json()) == (200, first.json())
    wrong = keyed(**{"X-Booking-Secret": "not-the-secret"})
    assert (await reserve(client, screening, "Ana Pop", headers=wrong, **body)).status_code == 403
    assert (await reserve(client, screening, "Ana Pop", headers=keyed(), **body)).status_code == 401


@pytest.mark.parametrize(
    "key", ["short-key", "x" * 201, "with space in it 1234", "ключ-ключ-ключ-ключ"]
)
async def test_a_key_too_short_or_too_long_is_refused(client, db, day, key):
    screening = await schedule(db, "cinema-2", day)
    answer = await client.post(
        f"/v1/screenings/{screening}/device-reservations",
        content=b'{"kind": "assistive_listening", "patron_name": "Ana Pop"}',
        headers={"Idempotency-Key": key.encode(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["source"]) == ("Idempotency-Key", "header")
    assert await db.fetchval("SELECT count(*) FROM device_reservation") == 0


async def _race(
    api: str, screening: UUID, bodies: list[str], client_ids: list[str], key: str = KEY
) -> list[Any]:
    async with clients(api, len(bodies)) as made:
        return await at_once(
            [
                lambda c=c, name=name, client_id=client_id: reserve(
                    c, screening, name, client_id=client_id, headers=keyed(key)
                )
                for c, name, client_id in zip(made, bodies, client_ids, strict=True)
            ]
        )


def _one_made_the_rest_replayed(answers: list[Any]) -> dict[str, Any]:
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 1, 200: len(answers) - 1}, [a.text for a in answers]
    assert all(a.headers["idempotent-replayed"] == "true" for a in answers if a.status_code == 200)
    assert len({a.text for a in answers}) == 1  # identical answers, byte for byte
    body: dict[str, Any] = answers[0].json()
    return body


@pytest.mark.slow
@pytest.mark.parametrize("clients_differ", [False, True], ids=["one-client", "new-address-each"])
async def test_eight_clients_sending_one_key_at_once_make_one_reservation(
    api, db, day, clients_differ
):
    """Eight retries of one request at once, from one client (they queue on its lock) or as if
    from eight addresses (only PostgreSQL's unique key stands between them): one reservation,
    one answer; likewise for a place on the waitlist."""
    await keep_units(db, "ALS-201")
    screening = await schedule(db, "cinema-2", day)
    ids = [f"patron-{n}" if clients_differ else "patron" for n in range(8)]
    body = _one_made_the_rest_replayed(await _race(api, screening, ["Ana Pop"] * 8, ids))
    assert body["status"] == "reserved"
    assert await _made_with(db) == 1
    second = f"{KEY}-waitlist"
    body = _one_made_the_rest_replayed(await _race(api, screening, ["Ion Rusu"] * 8, ids, second))
    assert (body["status"], body["position"]) == ("waitlisted", 1)
    assert await _made_with(db, second) == 1
    assert await db.fetchval("SELECT count(*) FROM device_reservation") == 2
    assert len(await events(db, "device_reservation.reserved")) == 1
    assert len(await events(db, "device_reservation.waitlisted")) == 1


@pytest.mark.slow
async def test_one_key_racing_with_two_bodies_makes_one_and_refuses_the_other(api, db, day):
    screening = await schedule(db, "cinema-2", day)
    names = ["Ana Pop", "Ion Rusu"] * 4
    answers = await _race(api, screening, names, [f"till-{n}" for n in range(8)])
    [row] = await db.fetch("SELECT id, patron_name FROM device_reservation")
    for name, answer in zip(names, answers, strict=True):
        if name == row["patron_name"]:
            assert answer.status_code in (200, 201), answer.text
            assert answer.json()["id"] == str(row["id"])
        else:
            _refused_for_the_key(answer)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201, 422, 422, 422, 422]
