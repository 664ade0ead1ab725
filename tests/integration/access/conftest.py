"""Fixtures of the access device tests. The demo programme is loaded once and kept; between tests
only what these tests change is reset: reservations, the inventory (back to the demo's), the box
office's holds and bookings, the event tables, and the screenings the tests schedule. Each test
schedules its own screenings far ahead, so it never depends on what other tests did to the
demo's."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.settings import Settings
from tests.integration.access.helpers import TEST_NOTE, add_demo_inventory
from tests.integration.events.conftest import (  # noqa: F401 - fixtures shared with these tests
    Processes,
    env_for,
    free_port,
    processes,
    redis,
    settings,
)

RESET = (
    "device_reservation, device, seat_claim, booking_seat, booking, hold, outbox, "
    "processed_event, aggregate_last_event, staff_action"
)


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT 1 FROM venue WHERE slug = 'riverside'"):
            from services.demo import load_demo_data

            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migration'"
            )
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            await load_demo_data(conn, date.today())
        await conn.execute(f"TRUNCATE {RESET} CASCADE")
        await conn.execute("DELETE FROM screening WHERE notes = $1", TEST_NOTE)
        await add_demo_inventory(conn)
        await conn.execute("TRUNCATE outbox")
    return pool


@pytest.fixture
def day() -> datetime:
    """Noon UTC of a day far enough ahead that nothing of the demo's plays then."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return today + timedelta(days=40)


@pytest.fixture
def api(settings: Settings, processes: Processes) -> str:  # noqa: F811 - the fixtures above
    """A real API server process (uvicorn), for races between real clients."""
    port = free_port()
    processes.start(
        settings,
        "serve",
        "--port",
        str(port),
        USHER_DB_POOL_MAX="30",
        USHER_SECRET_KEY=os.environ["USHER_SECRET_KEY"],
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("the API server did not start\n" + processes.logs()) from None
            time.sleep(0.05)
    return url


@pytest.fixture
async def http(api: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=30) as client:
        yield client
