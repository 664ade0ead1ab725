"""Fixtures of the staff dashboard tests: the demo programme loaded once (only sales and event
tables are emptied between tests), and a real API server with a relay, started when a test first
asks for them and stopped after this package's last test (a relay left running would lead in
place of other tests' relays), with a Redis prefix of their own inside the run's."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from services.settings import Settings, get_settings
from tests.integration.box_office.helpers import screening_in
from tests.integration.events.conftest import Processes, free_port

SALES_TABLES = (
    "seat_claim, booking_seat, booking, hold, outbox, staff_action, processed_event,"
    " aggregate_last_event"
)
_demo_screenings: set[UUID] = set()


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """Overrides the root `db`: the whole database is emptied and the demo programme loaded the
    first time; after that only holds, bookings, blocks, events and staff actions (and what
    refers to them) are emptied and every demo screening put back on sale, which keeps each
    test's setup short."""
    async with pool.acquire() as conn:
        present = {row["id"] for row in await conn.fetch("SELECT id FROM screening")}
        if not _demo_screenings or present != _demo_screenings:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migration'"
            )
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            from services.demo import load_demo_data

            await load_demo_data(conn, date.today())
            _demo_screenings.clear()
            _demo_screenings.update(
                row["id"] for row in await conn.fetch("SELECT id FROM screening")
            )
        else:
            await conn.execute(f"TRUNCATE {SALES_TABLES} RESTART IDENTITY CASCADE")
            await conn.execute("UPDATE screening SET status = 'on_sale' WHERE status = 'sold_out'")
    return pool


@pytest.fixture
async def small(demo: asyncpg.Pool) -> UUID:
    """A HERE screening in Cinema 2: 92 seats."""
    return await screening_in(demo, "cinema-2")


@pytest.fixture
async def big(demo: asyncpg.Pool) -> UUID:
    """A GHOST TROPIC screening in Cinema 1: 300 seats."""
    return await screening_in(demo, "cinema-1")


@dataclass
class Live:
    """A real API server (`usher serve`) and relay (`usher relay`) on the run's database."""

    url: str
    settings: Settings
    processes: Processes

    @property
    def stream(self) -> str:
        return self.settings.redis.events_stream


def _wait_for(url: str, processes: Processes, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API server did not start:\n{processes.logs()}")


@pytest.fixture(scope="package")
def live(environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = get_settings()
    settings = msgspec.structs.replace(
        base,
        redis=msgspec.structs.replace(
            base.redis, prefix=f"{base.redis.prefix}staff-{secrets.token_hex(3)}:"
        ),
        events=msgspec.structs.replace(base.events, relay_poll_ms=200),
    )
    processes = Processes(tmp_path_factory.mktemp("live"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        processes.start(settings, "serve", "--port", str(port), "--log-level", "warning")
        processes.start(settings, "relay")
        _wait_for(url, processes)
        yield Live(url=url, settings=settings, processes=processes)
    finally:
        processes.close()


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=20) as client:
        yield client


@pytest.fixture
async def redis(environment: dict[str, str]) -> AsyncIterator[Redis]:
    client = Redis.from_url(get_settings().redis.url)
    yield client
    await client.aclose()


ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
