"""A validly signed token is only as good as its account: once the account is deactivated or
deleted it answers 401 (never 500), within USHER_STAFF_STATUS_SECONDS, without a database read
on every request (docs/security.md, "Staff tokens")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.staff import StaffMember
from services.staff.auth import issue_token
from services.staff.status import StaffStatus

Client = AsyncTestClient[Litestar]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Litestar) -> Iterator[Clock]:
    status: StaffStatus = app.state.staff_status
    saved = status.clock
    status.clock = clock = Clock()
    yield clock
    status.clock = saved


async def _account(client: Client, manager: dict[str, str], app: Litestar) -> dict[str, str]:
    """A new manager account, and the headers of its token."""
    made = await client.post(
        "/v1/staff/members",
        json={
            "email": f"m-{uuid4().hex[:8]}@example.org",
            "name": "Mo",
            "password": "long-enough-pw",
            "role": "manager",
        },
        headers=manager,
    )
    assert made.status_code == 201, made.text
    token, _ = issue_token(app.state.jwt, StaffMember(**made.json()))
    return {"Authorization": f"Bearer {token}"}


def _new_member() -> dict[str, Any]:
    return {"email": f"n-{uuid4().hex[:8]}@example.org", "name": "N", "password": "long-enough-pw"}


async def test_a_deactivated_account_answers_401_within_the_ttl(
    client: Client, manager: dict[str, str], app: Litestar, demo: asyncpg.Pool, clock: Clock
) -> None:
    headers = await _account(client, manager, app)
    assert (await client.get("/v1/staff/me", headers=headers)).status_code == 200
    member = (await client.get("/v1/staff/me", headers=headers)).json()
    await demo.execute("UPDATE staff_user SET active = false WHERE id = $1", UUID(member["id"]))
    # until the cached status is this old, the token still works: no read per request
    clock.now += app.state.settings.auth.status_seconds - 1
    assert (await client.get("/v1/staff/me", headers=headers)).status_code == 200
    clock.now += 1
    refused = await client.get("/v1/staff/me", headers=headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    written = await client.post("/v1/staff/members", json=_new_member(), headers=headers)
    assert written.status_code == 401, written.text


async def test_a_deleted_account_answers_401_not_500(
    client: Client, manager: dict[str, str], app: Litestar, demo: asyncpg.Pool, clock: Clock
) -> None:
    headers = await _account(client, manager, app)
    member = (await client.get("/v1/staff/me", headers=headers)).json()
    await demo.execute("DELETE FROM staff_user WHERE id = $1", UUID(member["id"]))
    clock.now += app.state.settings.auth.status_seconds
    written = await client.post("/v1/staff/members", json=_new_member(), headers=headers)
    assert written.status_code == 401, written.text


async def test_a_token_for_an_account_that_never_was_answers_401_at_once(
    client: Client, app: Litestar, demo: asyncpg.Pool, clock: Clock
) -> None:
    ghost = StaffMember(id=uuid4(), email="ghost@example.org", name="Ghost", role="manager")
    token, _ = issue_token(app.state.jwt, ghost)
    headers = {"Authorization": f"Bearer {token}"}
    written = await client.post("/v1/staff/members", json=_new_member(), headers=headers)
    assert written.status_code == 401, written.text
    # a public route that reads an optional staff token refuses it the same way
    seen = await client.get(f"/v1/holds/{uuid4()}", headers=headers)
    assert seen.status_code == 401, seen.text
