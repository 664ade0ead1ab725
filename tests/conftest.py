"""Fixtures that reach real servers: one database and one Redis key prefix per test run, migrated
once by the real migration runner, emptied between tests that ask for `db`, removed at the end."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from httpx import Request
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.testing.transport import TestClientTransport
from redis.asyncio import Redis

from tests.servers import find_servers

# Hypothesis judges inputs, not speed: a per-example deadline only measures how loaded the
# machine is (CI shares two cores with its own servers), so it is off for every test.
hypothesis_settings.register_profile("usher", deadline=None)
hypothesis_settings.load_profile("usher")

RUN_ID = secrets.token_hex(4)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(admin PostgreSQL URL, Redis URL); embedded servers started for the run stop after it."""
    with find_servers() as found:
        yield found


@pytest.fixture(scope="session")
async def database_url(servers: tuple[str, str]) -> AsyncIterator[str]:
    admin_url, _ = servers
    name = f"usher_test_{RUN_ID}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin_url, name)
    try:
        from services.db import connect
        from services.db.migrate import apply_migrations

        conn = await connect(url)
        await apply_migrations(conn)
        await conn.close()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def redis_prefix(servers: tuple[str, str]) -> AsyncIterator[str]:
    prefix = f"usher-test-{RUN_ID}:"
    yield prefix
    redis = Redis.from_url(servers[1])
    async for key in redis.scan_iter(match=f"*{prefix}*", count=1000):
        await redis.delete(key)
    await redis.aclose()


@pytest.fixture(scope="session")
def environment(
    database_url: str, redis_prefix: str, servers: tuple[str, str]
) -> Iterator[dict[str, str]]:
    """USHER_* variables for this run, set before any settings are read (and for subprocesses)."""
    from services.door.codes import new_key_entry

    env = {
        "USHER_DATABASE_URL": database_url,
        "USHER_REDIS_URL": servers[1],
        "USHER_REDIS_PREFIX": redis_prefix,
        "USHER_SECRET_KEY": f"test-secret-{RUN_ID}-0123456789abcdef",
        "USHER_DB_POOL_MIN": "1",
        "USHER_DOOR_SIGNING_KEYS": f"{new_key_entry(2)},{new_key_entry(1)}",
        # Payment providers whose callbacks the tests sign (tests/integration/money).
        "USHER_PAYMENT_PROVIDERS": (
            f"testpay=testpay-secret-{RUN_ID}-0123456789abcdef,"
            f"otherpay=otherpay-secret-{RUN_ID}-0123456789abcdef"
        ),
        # Many simulated clients come from this machine: the API trusts the local peer as its
        # proxy, and each client names its own address in X-Forwarded-For (racing.caller);
        # the in-process client's peer is 127.0.0.1 too (client below). The rate limits are
        # raised for the suite; tests/integration/test_limits.py runs them at their size.
        "USHER_TRUSTED_PROXIES": "127.0.0.1",
        "USHER_RATE_HOLDS": "100000/minute",
        "USHER_RATE_DEVICE_RESERVATIONS": "100000/minute",
        "USHER_RATE_SIGN_IN_PER_ADDRESS": "100000/minute",
        "USHER_RATE_SIGN_IN_PER_ACCOUNT": "100000/minute",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from services.settings import get_settings

    get_settings.cache_clear()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="session")
async def pool(environment: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    from services.db import create_pool

    pool = await create_pool(environment["USHER_DATABASE_URL"], min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The run's database, emptied of everything but the applied migrations."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migration'"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return pool


@pytest.fixture(scope="session")
def app(environment: dict[str, str]) -> Litestar:
    from services.app import create_app

    return create_app()


class _FromLocalPeer(TestClientTransport[Litestar]):
    """Litestar's in-process transport, with the peer 127.0.0.1 (a trusted proxy in this run)
    rather than `testclient`, so X-Forwarded-For tells simulated clients apart as in production."""

    def parse_request(self, request: Request) -> dict[str, Any]:
        scope = super().parse_request(request)
        scope["client"] = ("127.0.0.1", 50000)
        return scope


def local_client(app: Litestar) -> AsyncTestClient[Litestar]:
    """An in-process test client whose requests come from 127.0.0.1."""
    made = AsyncTestClient(app=app)
    made._transport = _FromLocalPeer(client=made, raise_server_exceptions=True)  # type: ignore[arg-type]
    return made


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with local_client(app) as client:
        yield client


@pytest.fixture
async def demo(db: asyncpg.Pool) -> asyncpg.Pool:
    """The demo programme and staff accounts, loaded as `usher demo-data` does."""
    from services.demo import load_demo_data

    async with db.acquire() as conn:
        await load_demo_data(conn, date.today())
    return db


async def _token(app: Litestar, pool: asyncpg.Pool, email: str) -> dict[str, str]:
    """A bearer token as POST /v1/staff/sessions issues it, minus the (slow) argon2 check,
    which tests/integration/test_catalog_writes.py exercises on its own."""
    from services.staff import store
    from services.staff.auth import issue_token

    async with pool.acquire() as conn:
        found = await store.find_for_login(conn, email)
    assert found is not None
    token, _ = issue_token(app.state.jwt, found[0])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def manager(demo: asyncpg.Pool, app: Litestar) -> dict[str, str]:
    """Headers carrying the demo manager's bearer token."""
    from services.demo import DEMO_MANAGER

    return await _token(app, demo, DEMO_MANAGER[0])


@pytest.fixture
async def staff(demo: asyncpg.Pool, app: Litestar) -> dict[str, str]:
    """Headers carrying the demo staff member's (lower role) bearer token."""
    from services.demo import DEMO_STAFF

    return await _token(app, demo, DEMO_STAFF[0])
