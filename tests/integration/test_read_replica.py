"""Programme reads from a read replica (USHER_DATABASE_REPLICA_URL): a real hot standby streaming
from a private primary. With the standby's replay paused, what was written since is missing
from anonymous reads (so they did go to the replica) and present for staff (the primary)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.app import create_app
from services.db import connect
from services.db.migrate import apply_migrations
from services.demo import DEMO_MANAGER, load_demo_data
from services.settings import get_settings
from services.staff import store
from services.staff.auth import issue_token
from tests.servers import replicated_postgres

pytestmark = pytest.mark.slow

FILM = {
    "title": "Here, Again",
    "slug": "here-again",
    "runtime_minutes": 83,
    "year": 2025,
}


@pytest.fixture(scope="module")
async def replica_client(
    environment: dict[str, str],
) -> AsyncIterator[tuple[AsyncTestClient, dict[str, str], object]]:
    with replicated_postgres() as (primary_url, replica_url, replica_sql):
        admin = await asyncpg.connect(primary_url)
        await admin.execute('CREATE DATABASE "usher"')
        await admin.close()
        primary = primary_url.replace("/postgres?", "/usher?")
        conn = await connect(primary)
        await apply_migrations(conn)
        await load_demo_data(conn, date.today())
        found = await store.find_for_login(conn, DEMO_MANAGER[0])
        await conn.close()
        base = get_settings()
        settings = msgspec.structs.replace(
            base,
            database=msgspec.structs.replace(
                base.database, url=primary, replica_url=replica_url.replace("/postgres?", "/usher?")
            ),
        )
        app = create_app(settings)
        assert found is not None
        async with AsyncTestClient(app=app) as client:
            token, _ = issue_token(app.state.jwt, found[0])
            yield client, {"Authorization": f"Bearer {token}"}, replica_sql


async def until_found(client: AsyncTestClient, path: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while (await client.get(path)).status_code != 200:
        assert time.monotonic() < deadline, f"{path} never reached the replica"
        await asyncio.sleep(0.05)


async def test_anonymous_programme_reads_come_from_the_replica(
    replica_client: tuple[AsyncTestClient, dict[str, str], object],
) -> None:
    client, manager, replica_sql = replica_client
    await until_found(client, "/v1/films/here")  # the demo, once the replica has it
    replica_sql("SELECT pg_wal_replay_pause()")  # type: ignore[operator]
    try:
        made = await client.post("/v1/films", json=FILM, headers=manager)
        assert made.status_code == 201, made.text
        assert (await client.get("/v1/films/here-again")).status_code == 404  # the replica
        staff_read = await client.get("/v1/films/here-again", headers=manager)
        assert staff_read.status_code == 200  # staff read the primary
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")  # type: ignore[operator]
    await until_found(client, "/v1/films/here-again")
