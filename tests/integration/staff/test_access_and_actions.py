"""Who may use the dashboard, how the page defends itself, and the staff actions it calls: each
one recorded (who, when, what) and evented in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from litestar.security.jwt import Token

from services.staff.auth import issue_token
from tests.integration.box_office.helpers import confirm_body, hold, token_of

READS = [
    "/v1/staff/events",
    "/v1/staff/screenings",
    "/v1/staff/screenings/{screening}",
    "/v1/staff/screenings/{screening}/holds",
]


def _patron_token(app, role: str = "patron") -> dict[str, str]:
    """A token signed with the right key whose holder is not staff (a patron's, say)."""
    token = app.state.jwt.create_token(
        identifier=str(uuid4()),
        token_expiration=timedelta(minutes=5),
        token_extras={"email": "patron@example.org", "name": "Pat Ron", "role": role},
    )
    return {"Authorization": f"Bearer {token}"}


async def test_anonymous_and_patron_requests_are_refused(client, app, small):
    made = await hold(client, small, {"seats": ["B2"]})
    hold_token = made.json()["token"]
    for template in READS:
        path = template.format(screening=small)
        anonymous = await client.get(path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["content-type"] == "application/problem+json"
        as_bearer = await client.get(path, headers={"Authorization": f"Bearer {hold_token}"})
        assert as_bearer.status_code == 401, path
        in_its_header = await client.get(path, headers=token_of(made))
        assert in_its_header.status_code == 401, path
        # signed with the right key, but no staff account has its id (services/staff/status.py)
        patron = await client.get(path, headers=_patron_token(app))
        assert patron.status_code == 401, (path, patron.text)
    # The box office's staff actions refuse them alike.
    blocks = f"/v1/screenings/{small}/blocks"
    assert (
        await client.post(blocks, json={"seats": ["A1"]}, headers=token_of(made))
    ).status_code == 401
    assert (
        await client.post(blocks, json={"seats": ["A1"]}, headers=_patron_token(app))
    ).status_code == 401


async def test_an_expired_staff_token_is_refused(client, app, demo):
    from services.demo import DEMO_STAFF
    from services.staff import store

    async with demo.acquire() as conn:
        found = await store.find_for_login(conn, DEMO_STAFF[0])
    assert found is not None
    auth = app.state.jwt
    expired = Token(
        exp=datetime.now(UTC) + timedelta(minutes=1),
        sub=str(found[0].id),
        extras={"email": found[0].email, "name": found[0].name, "role": "staff"},
    )
    expired.exp = datetime.now(UTC) - timedelta(minutes=1)  # past the check on construction
    token = expired.encode(auth.token_secret, auth.algorithm)
    answer = await client.get("/v1/staff/screenings", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    fresh, _ = issue_token(app.state.jwt, found[0])
    ok = await client.get("/v1/staff/screenings", headers={"Authorization": f"Bearer {fresh}"})
    assert ok.status_code == 200


async def test_the_page_is_public_framed_by_a_strict_policy_and_sets_no_cookie(client):
    page = await client.get("/staff")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    for directive in ("script-src 'self'", "frame-ancestors 'none'", "form-action 'none'"):
        assert directive in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert "set-cookie" not in page.headers
    assert '<script type="module" src="/staff/assets/app.js">' in page.text
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    for asset in ("app.js", "api.js", "feed.js", "seatmap.js", "staff.css"):
        answer = await client.get(f"/staff/assets/{asset}")
        assert answer.status_code == 200, asset
        assert "set-cookie" not in answer.headers
    assert (await client.get("/staff/assets/../dashboard.py")).status_code == 404
    assert (await client.get("/staff/assets/nothing.js")).status_code == 404


async def test_signing_in_sets_no_cookie_and_a_cookie_authenticates_nothing(client, demo):
    from services.demo import DEMO_STAFF

    email, password = DEMO_STAFF
    session = await client.post("/v1/staff/sessions", json={"email": email, "password": password})
    assert session.status_code == 201, session.text
    assert "set-cookie" not in session.headers
    token = session.json()["token"]
    forged = await client.get(
        "/v1/staff/screenings",
        headers={"Cookie": f"token={token}; Authorization=Bearer {token}"},
    )
    assert forged.status_code == 401


async def _staff_actions(pool) -> list[tuple[str, str, dict]]:
    rows = await pool.fetch(
        "SELECT s.email, a.action, a.detail FROM staff_action a"
        " JOIN staff_user s ON s.id = a.staff_id ORDER BY a.id"
    )
    return [(row["email"], row["action"], row["detail"]) for row in rows]


async def _events(pool) -> list[dict]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY position")
    return [row["payload"] for row in rows]


async def test_each_action_is_recorded_and_evented(client, staff, small, demo):
    from services.demo import DEMO_STAFF

    made = await hold(client, small, {"seats": ["C4", "C5"]})
    booked = await hold(client, small, {"seats": ["D4"]})
    confirmed = await client.post(
        f"/v1/holds/{booked.json()['id']}/confirm",
        json=confirm_body(["D4"]),
        headers={**token_of(booked), "Idempotency-Key": "a1"},
    )
    reference = confirmed.json()["reference"]
    before = len(await _events(demo))

    released = await client.delete(f"/v1/holds/{made.json()['id']}", headers=staff)
    assert released.status_code == 204
    blocks = f"/v1/screenings/{small}/blocks"
    blocked = await client.post(blocks, json={"seats": ["A1", "A2"], "note": "crew"}, headers=staff)
    assert blocked.status_code == 201
    unblocked = await client.delete(blocks, params={"seat": ["A2"]}, headers=staff)
    assert unblocked.status_code == 200
    cancelled = await client.post(
        f"/v1/bookings/{reference}/cancel", json={"reason": "double booked"}, headers=staff
    )
    assert cancelled.status_code == 200, cancelled.text

    actions = await _staff_actions(demo)
    assert [(email, action) for email, action, _ in actions] == [
        (DEMO_STAFF[0], "hold.released"),
        (DEMO_STAFF[0], "seats.blocked"),
        (DEMO_STAFF[0], "seats.unblocked"),
        (DEMO_STAFF[0], "booking.cancelled"),
    ]
    assert actions[1][2] == {"seats": ["A1", "A2"]}
    emitted = (await _events(demo))[before:]
    kinds = [event["type"] for event in emitted]
    assert kinds == ["hold.released", "seats.blocked", "seats.unblocked", "booking.cancelled"]
    assert emitted[0]["by"] == "staff"
    assert emitted[1]["seat_labels"] == ["A1", "A2"]
    assert emitted[1]["note"] == "crew"
    assert emitted[1]["screening_id"] == str(small)
    assert emitted[1]["venue_id"]
    assert emitted[2]["seat_labels"] == ["A2"]
    assert emitted[3]["by"] == "staff"
    assert emitted[3]["reference"] == reference


@pytest.mark.parametrize("taken", ["held", "blocked"])
async def test_a_refused_block_leaves_no_event_and_no_record(client, staff, small, demo, taken):
    if taken == "held":
        await hold(client, small, {"seats": ["B7"]})
    else:
        await client.post(f"/v1/screenings/{small}/blocks", json={"seats": ["B7"]}, headers=staff)
    before = (len(await _events(demo)), len(await _staff_actions(demo)))
    refused = await client.post(
        f"/v1/screenings/{small}/blocks", json={"seats": ["B6", "B7"]}, headers=staff
    )
    assert refused.status_code == 409
    not_blocked = await client.delete(
        f"/v1/screenings/{small}/blocks", params={"seat": ["B5"]}, headers=staff
    )
    assert not_blocked.status_code == 409
    assert (len(await _events(demo)), len(await _staff_actions(demo))) == before
