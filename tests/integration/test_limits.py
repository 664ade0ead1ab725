"""Limits a client cannot mint (docs/security.md): every per-caller limit counts by the caller's
address, read from X-Forwarded-For only when the peer is a trusted proxy; holds, device
reservations and sign-in are rate limited in Redis (per account too for sign-in), across API
processes, answering 429 with Retry-After as problem+json; without Redis the API still sells."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.app import create_app
from services.demo import DEMO_MANAGER, DEMO_STAFF
from services.errors import TooManyRequests
from services.rate_limits import TIMEOUT_SECONDS, RateLimits
from services.settings import Settings, get_settings
from tests.conftest import local_client
from tests.integration.box_office.helpers import screening_in
from tests.integration.events.conftest import PrivateRedis, Processes, free_port, wait_until
from tests.integration.racing import at_once, caller, clients

Client = AsyncTestClient[Litestar]


def limited(**changes: Any) -> Settings:
    """The run's settings with these limit settings, and a Redis prefix of their own (so no
    other test's counts are seen)."""
    base = get_settings()
    return msgspec.structs.replace(
        base,
        redis=msgspec.structs.replace(
            base.redis, prefix=f"{base.redis.prefix}limits-{secrets.token_hex(4)}:"
        ),
        limits=msgspec.structs.replace(base.limits, **changes),
    )


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[Client]:
    """An in-process API with these settings; its requests come from 127.0.0.1."""
    async with local_client(create_app(settings)) as client:
        yield client


async def hold(
    client: httpx.AsyncClient, screening: UUID, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"/v1/screenings/{screening}/holds", json={"count": 1}, headers=headers
    )


async def client_key(pool: asyncpg.Pool, answer: httpx.Response) -> str:
    assert answer.status_code == 201, answer.text
    key: str = await pool.fetchval(
        "SELECT client_id FROM hold WHERE id = $1", UUID(answer.json()["id"])
    )
    return key


def assert_too_many(answer: httpx.Response, window: int = 60) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    retry_after = int(answer.headers["retry-after"])
    assert 1 <= retry_after <= window
    body = answer.json()
    assert (body["status"], body["retry_after"]) == (429, retry_after)
    assert body["type"].endswith("/too-many-requests")


async def test_one_address_cannot_hold_past_its_cap_by_inventing_client_ids(
    client: Client, demo: asyncpg.Pool
) -> None:
    screening = await screening_in(demo, "cinema-2")
    cap = get_settings().box_office.max_live_holds_per_client
    answers = [
        await hold(client, screening, {"X-Client-Id": f"bot-{n}", **caller("bot")})
        for n in range(cap + 3)
    ]
    assert [a.status_code for a in answers] == [201] * cap + [409] * 3
    assert {await client_key(demo, a) for a in answers[:cap]} == {
        "ip:" + caller("bot")["X-Forwarded-For"]
    }
    # Another address is another caller.
    assert (await hold(client, screening, caller("patron"))).status_code == 201


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(demo: asyncpg.Pool) -> None:
    screening = await screening_in(demo, "cinema-2")
    cap = get_settings().box_office.max_live_holds_per_client
    async with api(limited(trusted_proxies=())) as untrusting:
        answers = [
            await hold(untrusting, screening, caller(f"made-up-{n}")) for n in range(cap + 1)
        ]
    assert [a.status_code for a in answers] == [201] * cap + [409]
    assert await client_key(demo, answers[0]) == "ip:127.0.0.1"  # the peer, not the header


async def test_the_caller_is_the_right_most_untrusted_hop(demo: asyncpg.Pool) -> None:
    screening = await screening_in(demo, "cinema-2")
    async with api(limited(trusted_proxies=("127.0.0.1/32", "10.0.0.0/8"))) as behind:
        spoofed = await hold(
            behind, screening, {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.1.1.1"}
        )
        assert await client_key(demo, spoofed) == "ip:203.0.113.9"
        v6 = await hold(behind, screening, {"X-Forwarded-For": "2001:db8:1:2::5"})
        assert await client_key(demo, v6) == "ip:2001:db8:1:2::/64"  # one subscriber's /64


async def test_holds_are_rate_limited_per_address_with_a_429_problem(
    demo: asyncpg.Pool, manager: dict[str, str]
) -> None:
    screening = await screening_in(demo, "cinema-1")
    async with api(limited(holds="3/minute")) as limited_api:
        made = [await hold(limited_api, screening, caller("eager")) for _ in range(3)]
        assert [a.status_code for a in made] == [201, 201, 201]
        assert_too_many(await hold(limited_api, screening, caller("eager")))
        assert (await hold(limited_api, screening, caller("calm"))).status_code == 201
        # The till (a staff token) is its own caller and is not rate limited.
        till = [
            await hold(limited_api, screening, {**caller("eager"), **manager}) for _ in range(4)
        ]
        assert [a.status_code for a in till] == [201] * 4
        assert await client_key(demo, till[0]) == f"staff:{await _id_of(demo, DEMO_MANAGER[0])}"


async def _id_of(pool: asyncpg.Pool, email: str) -> UUID:
    staff_id: UUID = await pool.fetchval("SELECT id FROM staff_user WHERE email = $1", email)
    return staff_id


async def test_device_reservations_are_rate_limited_per_address(demo: asyncpg.Pool) -> None:
    screening = await screening_in(demo, "cinema-2")
    route = f"/v1/screenings/{screening}/device-reservations"
    body = {"kind": "assistive_listening", "patron_name": "Ana Pop"}
    async with api(limited(device_reservations="2/minute")) as limited_api:
        for _ in range(2):
            made = await limited_api.post(route, json=body, headers=caller("hoarder"))
            assert made.status_code == 201, made.text
        assert_too_many(await limited_api.post(route, json=body, headers=caller("hoarder")))
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM device_reservation") == 2


async def test_a_request_past_its_limit_waits_for_no_database_connection(
    demo: asyncpg.Pool, tmp_path: Path
) -> None:
    """The rate limits are counted by route hooks, before a handler's dependencies: with every
    database connection of a real `usher serve` taken (here by two holds waiting on a lock; in
    life a flood or a slow database), a hold or a device reservation past its limit is still
    answered 429 at once, never queued for a connection; so a request let through does not
    hold its connection while Redis answers either."""
    screening = await screening_in(demo, "cinema-2")
    device_route = f"/v1/screenings/{screening}/device-reservations"
    device = {"kind": "assistive_listening", "patron_name": "Ana Pop"}
    processes = Processes(tmp_path)
    port = free_port()
    try:
        processes.start(
            limited(),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            USHER_RATE_HOLDS="1/minute",
            USHER_RATE_DEVICE_RESERVATIONS="1/minute",
            USHER_DB_POOL_MIN="1",
            USHER_DB_POOL_MAX="2",
        )
        url = f"http://127.0.0.1:{port}"
        await _wait_until_up(url, processes)
        async with clients(url, 5) as (flood, device_flood, first, second, _):
            assert (await hold(flood, screening, caller("flood"))).status_code == 201
            made = await device_flood.post(device_route, json=device, headers=caller("flood"))
            assert made.status_code == 201, made.text
            async with demo.acquire() as locker, locker.transaction():
                await locker.execute("LOCK TABLE hold IN SHARE MODE")  # new holds wait for it
                waiting = [
                    asyncio.ensure_future(hold(c, screening, caller(f"queue-{n}")))
                    for n, c in enumerate((first, second))
                ]

                async def both_connections_taken() -> bool:  # PostgreSQL sends no signal
                    assert not any(w.done() for w in waiting), [w.result().text for w in waiting]
                    lock_waits: int = await demo.fetchval(  # not the locker's: its view is fixed
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'usher' AND wait_event_type = 'Lock'"
                    )
                    return lock_waits == len(waiting)

                await wait_until(both_connections_taken, every=0.01)
                asked = [
                    asyncio.ensure_future(hold(flood, screening, caller("flood"))),
                    asyncio.ensure_future(
                        device_flood.post(device_route, json=device, headers=caller("flood"))
                    ),
                ]
                # the bound only ends a failing run: there the requests wait for a
                # connection until the lock goes
                answered, _ = await asyncio.wait(asked, timeout=20)
            held, reserved = [await request for request in asked]
            assert [(await w).status_code for w in waiting] == [201, 201]
    finally:
        processes.close()
    assert answered == set(asked), "a request past its limit waited for a connection"
    assert_too_many(held)
    assert_too_many(reserved)


async def test_a_redis_that_stops_answering_lets_the_request_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fail open on a hung Redis too, not only on one that refuses connections: a private
    redis-server stopped with SIGSTOP (it still accepts connections, and answers nothing).
    A hit past the limit gives up after half a second, lets the request through and warns."""
    server = PrivateRedis()
    server.start()
    settings = limited(holds="1/minute")
    settings = msgspec.structs.replace(
        settings, redis=msgspec.structs.replace(settings.redis, url=server.url)
    )
    rate_limits = RateLimits(settings)
    try:
        await rate_limits.hit("holds", "ip:10.9.9.9")
        with pytest.raises(TooManyRequests):  # the limit is live while Redis answers
            await rate_limits.hit("holds", "ip:10.9.9.9")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            # the bound only ends a failing run: without its timeout a hit waits for good
            await asyncio.wait_for(rate_limits.hit("holds", "ip:10.9.9.9"), 20)
            waited = time.monotonic() - started
        finally:
            server.proc.send_signal(signal.SIGCONT)
    finally:
        await rate_limits.aclose()
        server.close()
    assert waited >= TIMEOUT_SECONDS  # it did wait for Redis, then let the request through
    assert "rate limits are off" in caplog.text


async def sign_in(client: Client, email: str, password: str, who: str) -> httpx.Response:
    return await client.post(
        "/v1/staff/sessions", json={"email": email, "password": password}, headers=caller(who)
    )


async def test_sign_in_is_throttled_per_account_whatever_the_address(demo: asyncpg.Pool) -> None:
    email, password = DEMO_MANAGER
    async with api(limited(sign_in_per_account="3/minute")) as limited_api:
        for n in range(3):
            wrong = await sign_in(limited_api, email, f"guess-{n}", f"botnet-{n}")
            assert wrong.status_code == 401, wrong.text
        # The right password no longer helps, from any address, until the window has passed.
        assert_too_many(await sign_in(limited_api, email.upper(), password, "the-manager"))
        other = await sign_in(limited_api, *DEMO_STAFF, "the-manager")
        assert other.status_code == 201, other.text


async def test_sign_in_is_throttled_per_address_whatever_the_account(demo: asyncpg.Pool) -> None:
    async with api(limited(sign_in_per_address="3/minute")) as limited_api:
        for n in range(3):
            wrong = await sign_in(limited_api, f"guess-{n}@usher.test", "nope", "sprayer")
            assert wrong.status_code == 401, wrong.text
        assert_too_many(await sign_in(limited_api, *DEMO_MANAGER, "sprayer"))
        elsewhere = await sign_in(limited_api, *DEMO_MANAGER, "the-office")
        assert elsewhere.status_code == 201, elsewhere.text


async def test_a_rate_limit_holds_across_two_api_processes(
    demo: asyncpg.Pool, tmp_path: Path
) -> None:
    """Twenty holds at once from one address, shared between two `usher serve` processes on
    the same Redis: exactly the limit's four get through."""
    screening = await screening_in(demo, "cinema-1")
    settings = limited()
    processes = Processes(tmp_path)
    ports = [free_port(), free_port()]
    try:
        for port in ports:
            processes.start(
                settings,
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
                USHER_RATE_HOLDS="4/minute",
                USHER_MAX_LIVE_HOLDS_PER_CLIENT="100",
            )
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            await _wait_until_up(url, processes)
        async with clients(urls[0], 10) as first, clients(urls[1], 10) as second:
            answers = await at_once(
                [
                    (lambda c=c: hold(c, screening, caller("one-address")))  # type: ignore[misc]
                    for c in first + second
                ]
            )
    finally:
        processes.close()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 4 + [429] * 16, processes.logs()
    for answer in answers:
        if answer.status_code == 429:
            assert_too_many(answer)


async def _wait_until_up(url: str, processes: Processes) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=1) as http:
        for _ in range(300):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the API server did not start:\n{processes.logs()}")


async def test_the_api_still_sells_when_redis_is_down(demo: asyncpg.Pool) -> None:
    """Rate limits fail open: with nothing listening where Redis should be, holds and sign-in
    go through (the caps on seats and devices are PostgreSQL's, and still hold)."""
    settings = limited(holds="1/minute", sign_in_per_address="1/minute")
    settings = msgspec.structs.replace(
        settings,
        redis=msgspec.structs.replace(settings.redis, url=f"redis://127.0.0.1:{free_port()}/0"),
    )
    screening = await screening_in(demo, "cinema-2")
    async with api(settings) as without_redis:
        for _ in range(2):
            assert (await hold(without_redis, screening, caller("patron"))).status_code == 201
        for _ in range(2):
            signed_in = await sign_in(without_redis, *DEMO_STAFF, "the-till")
            assert signed_in.status_code == 201, signed_in.text
