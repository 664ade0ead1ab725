"""Patrons reserving devices through the API: offers, reserved or waitlisted at once, overlapping
screenings, cancellation, ties to bookings and holds, and bad input answered as problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.access import service
from tests.integration.access.helpers import (
    assert_never_lent_twice,
    events,
    keep_units,
    reserve,
    schedule,
    secret_of,
    statuses,
)
from tests.integration.box_office.helpers import confirm_body, token_of
from tests.integration.box_office.helpers import hold as make_hold


def _offers(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {offer["kind"]: offer for offer in response.json()["offers"]}


async def test_a_screening_offers_what_its_room_and_listing_support(client, db, day):
    big = await schedule(db, "cinema-1", day)
    looped = await schedule(db, "cinema-2", day)
    everything = await schedule(
        db,
        "cinema-1",
        day + timedelta(hours=4),
        ["assistive_listening", "closed_captions", "audio_description"],
    )
    plain = await schedule(db, "cinema-2", day + timedelta(hours=4), [])

    offers = _offers(await client.get(f"/v1/screenings/{big}/devices"))
    assert {k: o["reservable"] for k, o in offers.items()} == {
        "assistive_listening": 13,  # pooled: both rooms' receivers
        "neckloop": 3,
    }
    answer = await client.get(f"/v1/screenings/{looped}/devices")
    assert answer.json()["hearing_loop"] is True
    assert list(_offers(answer)) == ["assistive_listening"]  # the loop serves hearing aids
    offers = _offers(await client.get(f"/v1/screenings/{everything}/devices"))
    assert {k: o["reservable"] for k, o in offers.items()} == {
        "assistive_listening": 13,
        "neckloop": 3,
        "captioning": 6,
        "audio_description": 2,
    }
    assert offers["neckloop"]["name"].startswith("Assistive-listening receiver with a neckloop")
    assert _offers(await client.get(f"/v1/screenings/{plain}/devices")) == {}
    missing = await client.get(f"/v1/screenings/{UUID(int=1)}/devices")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_reserved_at_once_with_a_unit_tuned_to_the_room(client, db, day):
    looped = await schedule(db, "cinema-2", day)
    answer = await reserve(client, looped, "Ana Pop", patron_email="ana@example.org")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "reserved"
    assert body["secret"]
    assert "position" not in body
    assert answer.headers["location"] == f"/v1/device-reservations/{body['id']}"
    [reserved] = await events(db, "device_reservation.reserved")
    assert reserved["asset_tag"] == "ALS-201"  # tuned to Cinema 2, where the film plays
    assert reserved["patron_email"] == "ana@example.org"
    assert reserved["venue_id"]
    assert reserved["aggregate_type"] == "device_reservation"
    offers = _offers(await client.get(f"/v1/screenings/{looped}/devices"))
    assert offers["assistive_listening"]["reservable"] == 12

    seen = await client.get(f"/v1/device-reservations/{body['id']}", headers=secret_of(answer))
    assert seen.status_code == 200
    assert "secret" not in seen.json()
    assert seen.json()["status"] == "reserved"


async def test_the_waitlist_has_positions_and_the_secret_is_needed(client, db, day):
    await keep_units(db, "ALS-201")
    screening = await schedule(db, "cinema-2", day)
    first = await reserve(client, screening, "Ana")
    second = await reserve(client, screening, "Ion")
    third = await reserve(client, screening, "Mei")
    assert [r.json()["status"] for r in (first, second, third)] == [
        "reserved",
        "waitlisted",
        "waitlisted",
    ]
    assert [second.json()["position"], third.json()["position"]] == [1, 2]
    [waiting, _] = await events(db, "device_reservation.waitlisted")
    assert waiting["position"] == 1
    assert waiting["reason"] == "full"
    offers = _offers(await client.get(f"/v1/screenings/{screening}/devices"))
    assert offers["assistive_listening"] == {
        "kind": "assistive_listening",
        "name": offers["assistive_listening"]["name"],
        "reservable": 0,
        "waitlisted": 2,
    }

    path = f"/v1/device-reservations/{third.json()['id']}"
    assert (await client.get(path, headers=secret_of(third))).json()["position"] == 2
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=secret_of(second))).status_code == 403
    cancel = await client.post(f"{path}/cancel", json={})
    assert cancel.status_code == 401


async def test_a_unit_lent_for_one_screening_is_not_for_an_overlapping_one(client, db, day):
    await keep_units(db, "ALS-101")
    evening = await schedule(db, "cinema-1", day)
    # Cinema 2 an hour later: the spans overlap (end + turnaround vs start - lead)
    overlapping = await schedule(db, "cinema-2", day + timedelta(minutes=90))
    later = await schedule(db, "cinema-2", day + timedelta(hours=5))
    assert (await reserve(client, evening)).json()["status"] == "reserved"
    assert (await reserve(client, overlapping)).json()["status"] == "waitlisted"
    assert (await reserve(client, later)).json()["status"] == "reserved"
    assert await db.fetchval("SELECT count(DISTINCT device_id) FROM device_reservation") == 1
    await assert_never_lent_twice(db)


async def test_cancelling_frees_the_unit_for_the_next_patron_waiting(client, db, day):
    await keep_units(db, "ALS-201")
    screening = await schedule(db, "cinema-2", day)
    first = await reserve(client, screening, "Ana")
    second = await reserve(client, screening, "Ion")
    third = await reserve(client, screening, "Mei")
    path = f"/v1/device-reservations/{first.json()['id']}/cancel"
    cancelled = await client.post(path, json={"reason": "plans changed"}, headers=secret_of(first))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["ended_by"] == "patron"
    again = await client.post(path, json={}, headers=secret_of(first))
    assert again.status_code == 200
    [event] = await events(db, "device_reservation.cancelled")
    assert event["was"] == "reserved"
    assert event["device_id"]
    assert event["reason"] == "plans changed"

    # what the worker's promotion job runs: the next patron, in order, gets the unit, once
    async with db.acquire() as conn:
        venue = await conn.fetchval("SELECT venue_id FROM screening WHERE id = $1", screening)
        now = datetime.now(UTC)
        promoted = await service.promote_waitlist(conn, venue, "assistive_listening", now)
        assert await service.promote_waitlist(conn, venue, "assistive_listening", now) == []
    assert [str(p) for p in promoted] == [second.json()["id"]]
    seen = await client.get(
        f"/v1/device-reservations/{second.json()['id']}", headers=secret_of(second)
    )
    assert seen.json()["status"] == "reserved"
    still = await client.get(
        f"/v1/device-reservations/{third.json()['id']}", headers=secret_of(third)
    )
    assert still.json()["position"] == 1
    [promotion] = await events(db, "device_reservation.promoted")
    assert promotion["asset_tag"] == "ALS-201"
    assert promotion["patron_name"] == "Ion"


async def test_a_new_patron_does_not_jump_the_waitlist(client, db, day):
    await keep_units(db, "ALS-201")
    screening = await schedule(db, "cinema-2", day)
    first = await reserve(client, screening, "Ana")
    waiting = await reserve(client, screening, "Ion")
    await client.post(
        f"/v1/device-reservations/{first.json()['id']}/cancel", json={}, headers=secret_of(first)
    )
    # the unit is free, but Ion waits for it: a newcomer queues behind
    late = await reserve(client, screening, "Mei")
    assert late.json()["status"] == "waitlisted"
    assert late.json()["position"] == 2
    assert waiting.json()["position"] == 1


async def test_a_reservation_tied_to_a_booking_needs_its_secret(client, db, day, staff):
    screening = await schedule(db, "cinema-2", day)
    other = await schedule(db, "cinema-2", day + timedelta(hours=4))
    booked, reference = {}, {}
    for where, seat in ((screening, "C4"), (other, "C5")):
        held = await make_hold(client, where, {"seats": [seat]})
        booked[where] = await client.post(
            f"/v1/holds/{held.json()['id']}/confirm",
            json=confirm_body([seat]),
            headers={**token_of(held), "Idempotency-Key": f"k-{seat}"},
        )
        reference[where] = booked[where].json()["reference"]
    route = f"/v1/screenings/{screening}/device-reservations"
    secret = {"X-Booking-Secret": booked[screening].json()["secret"]}

    async def tie(ref: str, headers: dict[str, str]) -> Any:
        body = {"kind": "assistive_listening", "booking_reference": ref}
        return await client.post(route, json=body, headers=headers)

    # A reference alone is not a key: without the booking's secret, no reservation.
    bare = await tie(reference[screening], {})
    assert bare.status_code == 401, bare.text
    # A wrong secret, an unknown reference and another screening's reference (with that
    # booking's own secret) answer exactly alike: nothing to probe references with.
    wrong = await tie(reference[screening], {"X-Booking-Secret": "not-the-secret"})
    unknown = await tie("ZZZZZZZ", secret)
    foreign = await tie(reference[other], {"X-Booking-Secret": booked[other].json()["secret"]})
    assert wrong.status_code == unknown.status_code == foreign.status_code == 422
    assert wrong.json() == unknown.json() == foreign.json()
    assert wrong.json()["errors"][0]["field"] == "booking_reference"
    assert reference[screening] not in wrong.text
    assert await statuses(db, screening) == {}

    answer = await tie(reference[screening].lower(), secret)
    assert answer.status_code == 201, answer.text
    assert answer.json()["patron_name"] == "Ana Pop"
    assert answer.json()["patron_email"] == "ana@example.org"
    assert answer.json()["booking_reference"] == reference[screening]
    # Staff (the desk) tie a reservation to a booking without its secret.
    desk = await tie(reference[screening], staff)
    assert desk.status_code == 201, desk.text

    await client.post(f"/v1/bookings/{reference[screening]}/cancel", json={}, headers=secret)
    gone = await tie(reference[screening], secret)
    assert gone.status_code == 410


async def test_a_reservation_tied_to_a_hold_needs_its_token(client, db, day):
    screening = await schedule(db, "cinema-2", day)
    held = await make_hold(client, screening, {"seats": ["D5"]})
    body = {"kind": "assistive_listening", "patron_name": "Ana", "hold_id": held.json()["id"]}
    path = f"/v1/screenings/{screening}/device-reservations"
    assert (await client.post(path, json=body)).status_code == 401
    forged = await client.post(path, json=body, headers={"X-Hold-Token": "forged"})
    assert forged.status_code == 403
    tied = await client.post(path, json=body, headers=token_of(held))
    assert tied.status_code == 201, tied.text
    assert tied.json()["hold_id"] == held.json()["id"]
    await db.execute(
        "UPDATE hold SET expires_at = now() - interval '1 second',"
        " created_at = created_at - interval '1 hour' WHERE id = $1",
        UUID(held.json()["id"]),
    )
    expired = await client.post(path, json=body, headers=token_of(held))
    assert expired.status_code == 410


async def test_bad_requests_are_problems_naming_the_field(client, db, day):
    looped = await schedule(db, "cinema-2", day)
    path = f"/v1/screenings/{looped}/device-reservations"
    cases = [
        ({"kind": "neckloop", "patron_name": "Ana"}, 422, "kind"),
        ({"kind": "assistive_listening"}, 422, "patron_name"),
        ({"kind": "teleporter", "patron_name": "Ana"}, 400, "kind"),
        ({"kind": "assistive_listening", "patron_name": "Ana", "seat": "A1"}, 400, "seat"),
        ({"kind": "assistive_listening", "patron_name": "\x00"}, 400, "patron_name"),
        (
            {"kind": "assistive_listening", "booking_reference": "ABC", "hold_id": str(looped)},
            422,
            "hold_id",
        ),
    ]
    for body, status, field in cases:
        answer = await client.post(path, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == field, answer.json()
    assert await db.fetchval("SELECT count(*) FROM device_reservation") == 0


async def test_too_late_cancelled_or_too_many(client, db, day):
    started = await schedule(db, "cinema-2", datetime.now(UTC) - timedelta(days=30))
    answer = await reserve(client, started)
    assert answer.status_code == 409
    assert answer.json()["reason"] == "screening started"
    screening = await schedule(db, "cinema-2", day)
    for n in range(4):
        assert (await reserve(client, screening, f"P{n}", client_id="till-1")).status_code == 201
    too_many = await reserve(client, screening, "P5", client_id="till-1")
    assert too_many.status_code == 409
    assert (await reserve(client, screening, "P5", client_id="till-2")).status_code == 201


async def test_a_cancelled_screening_releases_its_devices(client, db, day, manager):
    screening = await schedule(db, "cinema-2", day)
    kept = await reserve(client, screening)
    cancelled = await client.post(
        f"/v1/screenings/{screening}/cancel", json={"reason": "print lost"}, headers=manager
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (await reserve(client, screening)).status_code == 409
    async with db.acquire() as conn:
        assert await service.release(conn, "screening", screening, datetime.now(UTC)) == 1
        assert await service.release(conn, "screening", screening, datetime.now(UTC)) == 0
    seen = await client.get(f"/v1/device-reservations/{kept.json()['id']}", headers=secret_of(kept))
    assert seen.json()["status"] == "cancelled"
    assert seen.json()["ended_by"] == "screening"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["kind", "patron_name", "patron_email", "booking_reference", "hold_id", "asset_tag", "state",
     "auditorium_id", "note", "reason"]
)  # fmt: skip
BODIES = JSON | st.dictionaries(FIELDS, JSON, max_size=5)


@pytest.fixture
async def target(client, db, day) -> tuple[UUID, str, UUID]:
    """A screening with one reservation, for the random bodies to aim at."""
    screening = await schedule(db, "cinema-2", day)
    made = await reserve(client, screening, "Fuzz")
    venue = await db.fetchval("SELECT venue_id FROM screening WHERE id = $1", screening)
    return screening, made.json()["id"], venue


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES, route=st.integers(min_value=0, max_value=5))
async def test_random_bodies_never_yield_a_500(client, manager, target, body, route):
    screening, reservation, venue = target
    method, path = [
        ("post", f"/v1/screenings/{screening}/device-reservations"),
        ("post", f"/v1/device-pickups/{reservation}/check-out"),
        ("post", f"/v1/device-pickups/{reservation}/cancel"),
        ("post", f"/v1/venues/{venue}/devices"),
        ("patch", f"/v1/venues/{venue}/devices/ALS-101"),
        ("post", f"/v1/venues/{venue}/devices/ALS-101/return"),
    ][route]
    answer = await client.request(
        method,
        path,
        content=json.dumps(body),
        headers={**manager, "content-type": "application/json"},
    )
    assert answer.status_code < 500, (method, path, body, answer.text)
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
