"""How fast patrons can reserve devices when they all come at once, beside the box office's seat
holds (the baseline) in the same run, on the same database and pool.

Every reservation of one kind in one venue takes that kind's lock (docs/access.md), so they run
one at a time; a seat hold takes only shared locks. This prints what that costs.

    python bench/access_reservations.py [--patrons 300] [--concurrency 30]

It creates a database of its own next to BENCH_DATABASE_URL's (default: the local server's
`postgres` database), migrates it, loads the demo programme, and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from schemas.access import DeviceReservationIn
from schemas.box_office import HoldIn
from schemas.catalog import ScreeningIn
from services.access import service as access
from services.box_office import service as box_office
from services.catalog import service as catalog
from services.db import connect, create_pool
from services.db.migrate import apply_migrations
from services.demo import PRICES, load_demo_data
from services.settings import AccessSettings, BoxOfficeSettings


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _timed(
    count: int, concurrency: int, step: Callable[[int], Awaitable[object]]
) -> tuple[float, list[float]]:
    """Run step(0..count-1) with at most `concurrency` at once; (seconds, latencies in ms)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(n: int) -> None:
        async with gate:
            started = time.perf_counter()
            await step(n)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started, latencies


def _report(name: str, count: int, seconds: float, latencies: list[float]) -> None:
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<34} {count / seconds:8.0f}/s   p50 {cuts[49]:6.1f} ms   p95 {cuts[94]:6.1f} ms"
        f"   max {max(latencies):6.1f} ms"
    )


async def _screening(pool: asyncpg.Pool, room: str, starts_at: datetime) -> UUID:
    async with pool.acquire() as conn:
        auditorium = await conn.fetchval("SELECT id FROM auditorium WHERE slug = $1", room)
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=auditorium,
                starts_at=starts_at,
                prices=PRICES,
                features=["assistive_listening"],
            ),
        )
    return screening.id


async def bench(patrons: int, concurrency: int) -> None:
    admin_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"usher_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _database(admin_url, name)
    try:
        conn = await connect(url)
        await apply_migrations(conn)
        await load_demo_data(conn, date.today())
        await conn.close()
        pool = await create_pool(url, min_size=concurrency, max_size=concurrency)
        day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        day += timedelta(days=40)
        seats = await _screening(pool, "cinema-1", day)
        first = await _screening(pool, "cinema-1", day + timedelta(hours=4))
        overlapping = await _screening(pool, "cinema-2", day + timedelta(hours=5))
        now = datetime.now(UTC)
        box = BoxOfficeSettings(max_live_holds_per_client=patrons)
        devices = AccessSettings(max_reservations_per_client=patrons)

        labels = [
            row["label"]
            for row in await pool.fetch(
                "SELECT label FROM seat st JOIN auditorium a ON a.id = st.auditorium_id"
                " WHERE a.slug = 'cinema-1' AND st.kind IN ('standard', 'aisle') ORDER BY label"
            )
        ]

        async def hold(n: int) -> None:
            data = HoldIn(seats=[labels[n]])
            async with pool.acquire() as c:
                await box_office.make_hold(c, seats, data, f"bench-{n}", box, now)

        async def reserve(n: int) -> None:
            screening = first if n % 2 else overlapping
            data = DeviceReservationIn("assistive_listening", f"Patron {n}")
            async with pool.acquire() as c:
                await access.reserve(c, screening, data, f"bench-{n}", None, devices, now)

        holds = min(patrons, len(labels))
        version = await admin.fetchval("SHOW server_version")
        print(f"{patrons} patrons, {concurrency} at once, PostgreSQL {version}")
        _report("seat holds (baseline)", holds, *await _timed(holds, concurrency, hold))
        _report("device reservations", patrons, *await _timed(patrons, concurrency, reserve))
        statuses = dict(
            await pool.fetch("SELECT status, count(*) FROM device_reservation GROUP BY status")
        )
        print(f"  -> {statuses}")

        # every reserved unit freed at once; one promotion run serves the waitlist
        async with pool.acquire() as c:
            venue = await c.fetchval("SELECT venue_id FROM screening WHERE id = $1", first)
            freed = await c.fetch(
                "UPDATE device_reservation SET status = 'cancelled', ended_at = now(),"
                " ended_by = 'staff' WHERE status = 'reserved' RETURNING id"
            )
            started = time.perf_counter()
            promoted = await access.promote_waitlist(c, venue, "assistive_listening", now)
            took = (time.perf_counter() - started) * 1000
            waiting = await c.fetchval(
                "SELECT count(*) FROM device_reservation WHERE status = 'waitlisted'"
            )
        print(
            f"promotion run: {len(freed)} units freed, {len(promoted)} promoted past a waitlist of"
            f" {waiting + len(promoted)} in {took:.1f} ms"
        )
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patrons", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(bench(args.patrons, args.concurrency))


if __name__ == "__main__":
    main()
