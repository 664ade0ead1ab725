"""Holds through the API: seat maps, all-or-nothing holds, rules, changes, extensions, release."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.box_office import HoldIn
from services.box_office import service, store
from services.errors import Conflict
from services.settings import BoxOfficeSettings
from tests.integration.box_office.helpers import (
    backdate,
    confirm_body,
    events,
    hold,
    seat_statuses,
    token_of,
)


async def test_seat_map_lists_every_seat_and_answers_304_while_unchanged(client, small):
    response = await client.get(f"/v1/screenings/{small}/seats")
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["seats"]) == 92
    assert body["counts"] == {"available": 92, "held": 0, "booked": 0, "blocked": 0}
    assert body["status"] == "on_sale"
    etag = response.headers["etag"]
    assert etag == f'"{body["version"]}"'
    same = await client.get(f"/v1/screenings/{small}/seats", headers={"If-None-Match": etag})
    assert same.status_code == 304
    assert same.headers["etag"] == etag
    await hold(client, small, {"seats": ["D5"]})
    changed = await client.get(f"/v1/screenings/{small}/seats", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert {s["label"]: s["status"] for s in changed.json()["seats"]}["D5"] == "held"


async def test_unknown_screening_is_404(client, demo):
    missing = "01900000-0000-7000-8000-000000000000"
    assert (await client.get(f"/v1/screenings/{missing}/seats")).status_code == 404
    assert (await hold(client, missing, {"seats": ["A1"]})).status_code == 404


async def test_a_hold_carries_its_token_seats_and_expiry(client, small, demo):
    response = await hold(client, small, {"seats": ["C5", "C6"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/holds/{body['id']}"
    assert [seat["label"] for seat in body["seats"]] == ["C5", "C6"]
    assert body["status"] == "live"
    assert len(body["token"]) >= 30
    created = datetime.fromisoformat(body["created_at"])
    assert (datetime.fromisoformat(body["expires_at"]) - created).total_seconds() == 600
    assert (datetime.fromisoformat(body["latest_expiry"]) - created).total_seconds() == 1800
    assert body["extensions_left"] == 2
    statuses = await seat_statuses(client, small)
    assert statuses["C5"] == statuses["C6"] == "held"
    # The token is never shown again, and only its digest is stored.
    again = await client.get(f"/v1/holds/{body['id']}", headers=token_of(response))
    assert again.status_code == 200
    assert "token" not in again.json()
    async with demo.acquire() as conn:
        stored = await conn.fetchval("SELECT token_hash FROM hold WHERE id = $1", body["id"])
    assert body["token"].encode() not in stored
    [held] = await events(demo, "hold.seats_held")
    assert held["seat_labels"] == ["C5", "C6"]
    assert held["expires_at"] == body["expires_at"].replace("+00:00", "Z")


async def test_all_or_nothing_409_names_the_seats_taken(client, small):
    first = await hold(client, small, {"seats": ["E5", "E6"]}, client_id="one")
    assert first.status_code == 201
    before = await seat_statuses(client, small)
    refused = await hold(client, small, {"seats": ["E4", "E5", "E6", "E7"]}, client_id="two")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["seats"] == ["E5", "E6"]
    assert await seat_statuses(client, small) == before  # E4 and E7 were not held


async def test_best_available(client, big):
    response = await hold(client, big, {"count": 4})
    assert response.status_code == 201, response.text
    assert [seat["label"] for seat in response.json()["seats"]] == ["G9", "G10", "G11", "G12"]
    second = await hold(client, big, {"count": 2}, client_id="other")
    assert [seat["label"] for seat in second.json()["seats"]] == ["G13", "G14"]
    chair = await hold(client, big, {"count": 2, "wheelchair_spaces": 1}, client_id="third")
    assert chair.status_code == 201, chair.text
    assert sorted(seat["kind"] for seat in chair.json()["seats"]) == ["companion", "wheelchair"]


async def test_best_available_splits_unless_together_is_required(client, small, staff):
    every_row = [f"{row}{n}" for row in "ABCDEFGH" for n in range(1, 12) if n % 2]
    blocked = await client.post(
        f"/v1/screenings/{small}/blocks", json={"seats": every_row}, headers=staff
    )
    assert blocked.status_code == 201, blocked.text
    refused = await hold(client, small, {"count": 2, "together": "required"})
    assert refused.status_code == 409
    assert refused.json()["reason"] == "no seats together"
    split = await hold(client, small, {"count": 2})  # together is only a preference
    assert split.status_code == 201, split.text
    assert split.json()["placement"] == "split over two rows"
    rows = sorted(seat["row_label"] for seat in split.json()["seats"])
    assert ord(rows[1]) - ord(rows[0]) <= 1, rows


async def test_rules_are_422_naming_the_field(client, small, big):
    cases = [
        (big, {"seats": ["A1", "M1"]}, "seats[1]"),  # wheelchair space, no declared need
        (big, {"seats": ["M2"], "wheelchair_spaces": 1}, "seats[0]"),  # companion alone
        (big, {"seats": ["M2", "M8"], "wheelchair_spaces": 1}, "seats[0]"),  # not beside
        (small, {"seats": ["A1", "Z99"]}, "seats[1]"),
        (small, {"seats": ["A1", "A1"]}, "seats[1]"),
        (small, {"seats": [f"B{n}" for n in range(1, 12)]}, "seats"),  # more than 10
        (small, {"count": 11}, "count"),
        (small, {"seats": ["A1"], "count": 1}, "count"),
        (small, {}, "seats"),
        (small, {"count": 1, "wheelchair_spaces": 2}, "wheelchair_spaces"),
    ]
    for screening, body, field in cases:
        response = await hold(client, screening, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())
    ok = await hold(client, big, {"seats": ["M1", "M2"], "wheelchair_spaces": 1})
    assert ok.status_code == 201, ok.text


async def test_which_seat_kinds_a_hold_may_have_is_one_sql_function(demo, big):
    """box_office_seat_kinds, which box_office_claim runs for explicit seats (and a change's)."""
    async with demo.acquire() as conn:
        ids = {
            row["label"]: row["id"]
            for row in await conn.fetch(
                "SELECT t.label, t.id FROM seat t JOIN screening s"
                " ON s.auditorium_id = t.auditorium_id WHERE s.id = $1",
                big,
            )
        }

        async def refused(names: list[str], wheelchair_spaces: int) -> tuple[str, str] | None:
            answer = await store.seat_kinds_refusal(
                conn, [ids[name] for name in names], wheelchair_spaces
            )
            labels = {seat_id: label for label, seat_id in ids.items()}
            return None if answer is None else (labels[answer[0]], answer[1])

        # a wheelchair space needs a declared need
        assert await refused(["M1"], 1) is None
        assert await refused(["M3", "M1"], 0) == ("M1", "wheelchair space")
        assert await refused(["M1", "M5"], 1) == ("M5", "wheelchair space")  # one declared
        # a companion seat only beside a wheelchair space in the same hold
        assert await refused(["M1", "M2"], 1) is None  # M2 beside M1
        assert await refused(["M6", "M5"], 1) is None
        assert await refused(["M2"], 0) == ("M2", "companion seat")
        assert await refused(["M2", "M8"], 1) == ("M2", "companion seat")  # M8 not beside M2


async def test_live_holds_per_client_are_limited(client, small):
    for n in range(1, 6):
        assert (
            await hold(client, small, {"seats": [f"A{n}"]}, client_id="till")
        ).status_code == 201
    refused = await hold(client, small, {"seats": ["A6"]}, client_id="till")
    assert refused.status_code == 409
    assert refused.json()["reason"] == "too many live holds"
    assert (await hold(client, small, {"seats": ["A6"]}, client_id="web")).status_code == 201


async def test_an_expired_hold_no_longer_counts_against_its_client(client, small, demo):
    made = [await hold(client, small, {"seats": [f"B{n}"]}, client_id="till") for n in range(1, 6)]
    await backdate(demo, made[0].json()["id"])
    assert (await hold(client, small, {"seats": ["B6"]}, client_id="till")).status_code == 201


async def test_the_hold_token_is_needed(client, small):
    response = await hold(client, small, {"seats": ["F5"]})
    path = f"/v1/holds/{response.json()['id']}"
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers={"X-Hold-Token": "not-it"})).status_code == 403
    assert (await client.delete(path, headers={"X-Hold-Token": "not-it"})).status_code == 403
    assert (await client.post(f"{path}/extend")).status_code == 401
    assert (await client.patch(path, json={"add": ["F6"]})).status_code == 401
    assert (await seat_statuses(client, small))["F5"] == "held"


async def test_change_a_hold_all_or_nothing_keeping_its_timer(client, small, demo):
    response = await hold(client, small, {"seats": ["D4", "D5"]}, client_id="one")
    path, token = f"/v1/holds/{response.json()['id']}", token_of(response)
    await hold(client, small, {"seats": ["D7"]}, client_id="two")
    refused = await client.patch(path, json={"add": ["D6", "D7"], "remove": ["D4"]}, headers=token)
    assert refused.status_code == 409
    assert refused.json()["seats"] == ["D7"]
    statuses = await seat_statuses(client, small)
    assert (statuses["D4"], statuses["D6"]) == ("held", "available")
    changed = await client.patch(path, json={"add": ["D6"], "remove": ["D4"]}, headers=token)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert [seat["label"] for seat in body["seats"]] == ["D5", "D6"]
    assert body["expires_at"] == response.json()["expires_at"]
    statuses = await seat_statuses(client, small)
    assert (statuses["D4"], statuses["D5"], statuses["D6"]) == ("available", "held", "held")
    [changed_event] = await events(demo, "hold.changed")
    assert (changed_event["added"], changed_event["removed"]) == (["D6"], ["D4"])
    for body, field in [({"add": ["D5"]}, "add[0]"), ({"remove": ["D9"]}, "remove[0]")]:
        bad = await client.patch(path, json=body, headers=token)
        assert bad.status_code == 422, bad.text
        assert bad.json()["errors"][0]["field"] == field


async def test_removing_the_wheelchair_space_beside_a_companion_is_refused(client, big):
    response = await hold(client, big, {"seats": ["M1", "M2"], "wheelchair_spaces": 1})
    refused = await client.patch(
        f"/v1/holds/{response.json()['id']}", json={"remove": ["M1"]}, headers=token_of(response)
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "remove"


async def test_extensions_are_capped_and_a_refusal_leaves_the_timer(client, small, demo):
    response = await hold(client, small, {"seats": ["G5"]})
    path, token = f"/v1/holds/{response.json()['id']}", token_of(response)
    created = datetime.fromisoformat(response.json()["created_at"])
    first = await client.post(f"{path}/extend", headers=token)
    assert first.status_code == 200, first.text
    assert (datetime.fromisoformat(first.json()["expires_at"]) - created).total_seconds() == 1200
    second = await client.post(f"{path}/extend", headers=token)
    assert (datetime.fromisoformat(second.json()["expires_at"]) - created).total_seconds() == 1800
    assert second.json()["extensions_left"] == 0
    third = await client.post(f"{path}/extend", headers=token)
    assert third.status_code == 409
    after = await client.get(path, headers=token)
    assert after.json()["expires_at"] == second.json()["expires_at"]
    assert len(await events(demo, "hold.extended")) == 2


async def test_release_gives_the_seats_back_at_once(client, small, demo):
    response = await hold(client, small, {"seats": ["H5", "H6"]}, client_id="one")
    path, token = f"/v1/holds/{response.json()['id']}", token_of(response)
    assert (await client.delete(path, headers=token)).status_code == 204
    assert (await client.delete(path, headers=token)).status_code == 204  # again: no-op
    assert (await seat_statuses(client, small))["H5"] == "available"
    assert (await hold(client, small, {"seats": ["H5"]}, client_id="two")).status_code == 201
    [released] = await events(demo, "hold.released")
    assert (released["by"], released["seat_labels"]) == ("patron", ["H5", "H6"])
    confirm = await client.post(
        f"{path}/confirm",
        json=confirm_body(["H5", "H6"]),
        headers={**token, "Idempotency-Key": "k"},
    )
    assert confirm.status_code == 410
    assert (await client.post(f"{path}/extend", headers=token)).status_code == 410


async def test_staff_may_release_any_hold(client, small, staff, demo):
    response = await hold(client, small, {"seats": ["H8"]})
    path = f"/v1/holds/{response.json()['id']}"
    assert (await client.get(path, headers=staff)).status_code == 200
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.delete(path, headers=bad)).status_code == 401
    assert (await client.delete(path, headers=staff)).status_code == 204
    [released] = await events(demo, "hold.released")
    assert released["by"] == "staff"


async def test_an_expired_hold_is_dead_for_every_read_and_write_without_a_worker(
    client, small, demo
):
    response = await hold(client, small, {"seats": ["B5", "B6"]}, client_id="one")
    hold_id, token = response.json()["id"], token_of(response)
    await backdate(demo, hold_id)
    statuses = await seat_statuses(client, small)
    assert statuses["B5"] == statuses["B6"] == "available"
    assert (await client.get(f"/v1/holds/{hold_id}", headers=token)).json()["status"] == "expired"
    for method, suffix, body in [
        ("post", "/extend", None),
        ("patch", "", {"add": ["B7"]}),
        ("delete", "", None),
    ]:
        answer = await client.request(
            method, f"/v1/holds/{hold_id}{suffix}", json=body, headers=token
        )
        assert answer.status_code == 410, (method, suffix, answer.text)
    # Another client takes a seat of the dead hold before any worker has run.
    taken = await hold(client, small, {"seats": ["B6", "B7"]}, client_id="two")
    assert taken.status_code == 201, taken.text
    confirm = await client.post(
        f"/v1/holds/{hold_id}/confirm",
        json=confirm_body(["B5", "B6"]),
        headers={**token, "Idempotency-Key": "late"},
    )
    assert confirm.status_code == 410
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM booking") == 0
        status = await conn.fetchval("SELECT status FROM hold WHERE id = $1", hold_id)
    assert status == "live"  # nothing changed: the sweep will record its expiry


async def test_sales_close_when_the_screening_starts(client, small, demo):
    response = await hold(client, small, {"seats": ["C8"]})
    path, token = f"/v1/holds/{response.json()['id']}", token_of(response)
    async with demo.acquire() as conn:
        await conn.execute(
            "UPDATE screening SET starts_at = now() - interval '1 minute' WHERE id = $1", small
        )
    refused = await hold(client, small, {"seats": ["C9"]}, client_id="late")
    assert refused.status_code == 409
    assert refused.json()["reason"] == "sales closed"
    more = await client.patch(path, json={"add": ["C9"]}, headers=token)
    assert more.status_code == 409
    # A hold made before the start can still be confirmed.
    confirm = await client.post(
        f"{path}/confirm", json=confirm_body(["C8"]), headers={**token, "Idempotency-Key": "k"}
    )
    assert confirm.status_code == 201, confirm.text


async def test_a_changed_hold_time_applies_to_the_next_hold(client, small, demo):
    """The API remembers each venue's hold time; the statement that makes a hold checks it and
    the API reads it again when it changed, so no hold gets a stale expiry."""
    first = await hold(client, small, {"seats": ["F1"]}, client_id="before")
    assert first.status_code == 201, first.text
    async with demo.acquire() as conn:
        await conn.execute(
            "UPDATE venue SET hold_minutes = 4"
            " WHERE id = (SELECT venue_id FROM screening WHERE id = $1)",
            small,
        )
    try:
        second = await hold(client, small, {"seats": ["F2"]}, client_id="after")
        assert second.status_code == 201, second.text
        body = second.json()
        held_for = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
            body["created_at"]
        )
        assert held_for.total_seconds() == 240
        [event] = [e for e in await events(demo, "hold.seats_held") if e["hold_id"] == body["id"]]
        assert event["expires_at"] == body["expires_at"].replace("+00:00", "Z")
    finally:
        async with demo.acquire() as conn:
            await conn.execute(
                "UPDATE venue SET hold_minutes = 10"
                " WHERE id = (SELECT venue_id FROM screening WHERE id = $1)",
                small,
            )


async def test_a_refused_hold_inside_a_callers_transaction_leaves_it_usable(client, small, demo):
    """The one-statement hold raises when seats are taken; inside a caller's transaction it runs
    in a savepoint, so the refusal undoes only the hold and the transaction goes on."""
    first = await hold(client, small, {"seats": ["G3"]}, client_id="first")
    assert first.status_code == 201, first.text
    async with demo.acquire() as conn, conn.transaction():
        with pytest.raises(Conflict) as refused:
            await service.make_hold(
                conn,
                small,
                HoldIn(seats=["G2", "G3"]),
                "second",
                BoxOfficeSettings(),
                datetime.now(UTC),
            )
        assert refused.value.extra["seats"] == ["G3"]
        assert await conn.fetchval("SELECT count(*) FROM hold WHERE client_id = 'second'") == 0
    assert (await seat_statuses(client, small))["G2"] == "available"
