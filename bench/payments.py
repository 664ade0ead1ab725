"""Payment figures on this machine: signed callbacks acknowledged per second and the p99 time
to acknowledge one, the share of late payments that become bookings on the same seats when
those are still free (the goal: all), and in the same run a baseline of plain INSERT
transactions through asyncpg.

    python bench/payments.py [--database-url ADMIN_URL] [--workers 2] [--late 200]

It creates its own database (`usher_bench_<random>`), migrates it with the real runner, starts
its own API server processes (`usher serve`) with a payment provider configured, posts signed
callbacks to them with a minimal keep-alive HTTP/1.1 client, and acts on late payments with the
service function the worker runs; then stops the servers and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.holds import (  # noqa: E402
    Http,
    Timings,
    baseline_inserts,
    standard_seats,
    start_api,
    stop,
    wait_ready,
    with_database,
)
from schemas.catalog import AuditoriumIn, Price, ScreeningIn  # noqa: E402
from services.box_office import service as box_office  # noqa: E402
from services.catalog import service as catalog  # noqa: E402
from services.db import connect, create_pool  # noqa: E402
from services.db.migrate import apply_migrations  # noqa: E402
from services.demo import load_demo_data  # noqa: E402
from services.money import service as money  # noqa: E402
from services.money.rules import signature_header  # noqa: E402

PROVIDER = "benchpay"


async def prepare(url: str) -> UUID:
    """Migrate, load the demo programme, and add a 2,000-seat hall with one screening."""
    conn = await connect(url)
    try:
        await apply_migrations(conn)
        await load_demo_data(conn, date.today())
        venue_id = await conn.fetchval("SELECT id FROM venue WHERE slug = 'riverside'")
        hall = await catalog.add_auditorium(
            conn, None, AuditoriumIn(venue_id, "late", "late", standard_seats(40, 50))
        )
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=hall.id,
                starts_at=datetime.now(UTC) + timedelta(days=60),
                prices=[Price("adult", 1200)],
            ),
        )
        await conn.execute(
            "CREATE TABLE bench_insert (id uuid PRIMARY KEY, payload text, at timestamptz)"
        )
        return screening.id
    finally:
        await conn.close()


def callback(secret: str, checkout_id: str, event_id: str, amount: int) -> tuple[bytes, str]:
    body = msgspec.json.encode(
        {
            "id": event_id,
            "type": "payment.succeeded",
            "checkout_id": checkout_id,
            "payment_id": f"pi_{event_id}",
            "amount": amount,
            "currency": "USD",
            "occurred_at": datetime.now(UTC).isoformat(),
        }
    )
    return body, signature_header(secret, int(time.time()), body)


async def post(http: Http, body: bytes, signature: str) -> int:
    """POST raw bytes (Http.request encodes a Python value; a callback is signed as bytes)."""
    if http.writer is None:
        http.reader, http.writer = await asyncio.open_connection(http.host, http.port)
    assert http.reader is not None
    assert http.writer is not None
    head = (
        f"POST /v1/payments/callbacks/{PROVIDER} HTTP/1.1\r\nHost: {http.host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Usher-Signature: {signature}\r\n\r\n"
    )
    http.writer.write(head.encode() + body)
    status = int((await http.reader.readline()).split()[1])
    length = 0
    while (line := await http.reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await http.reader.readexactly(length)
    return status


async def callbacks_per_second(
    port: int, secret: str, clients: int, seconds: float
) -> tuple[float, Timings, Counter[int]]:
    """Signed success callbacks (each its own event id, for checkouts Usher does not know: the
    acknowledgement is the same work) from `clients` keep-alive connections."""
    timings = Timings()
    statuses: Counter[int] = Counter()
    stop_at = time.perf_counter() + seconds

    async def client(n: int) -> None:
        http = Http("127.0.0.1", port)
        i = 0
        while time.perf_counter() < stop_at:
            body, signature = callback(secret, str(UUID(int=n)), f"evt-{n}-{i}", 1200)
            started = time.perf_counter()
            statuses[await post(http, body, signature)] += 1
            timings.add(time.perf_counter() - started)
            i += 1
        await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return len(timings.latencies) / (time.perf_counter() - started), timings, statuses


async def late_payments(
    port: int, url: str, secret: str, screening: UUID, count: int, taken_share: float
) -> dict[str, Any]:
    """`count` holds put in checkout on distinct seats, then dead (their window passed and the
    sweep released them); a share of their seats held by someone else meanwhile; then each
    payment arrives, signed, and the worker's service acts on it."""
    http = Http("127.0.0.1", port)
    checkouts = []
    for n in range(count):
        seat = f"{chr(65 + n // 50)}{1 + n % 50}"
        status, _, raw = await http.request(
            "POST",
            f"/v1/screenings/{screening}/holds",
            {"seats": [seat]},
            {"X-Forwarded-For": f"10.9.{n // 250}.{n % 250}"},
        )
        assert status == 201, raw
        hold = msgspec.json.decode(raw)
        body = {
            "patron": {"name": "Late Payer", "email": "late@example.org"},
            "tickets": [{"seat": seat, "ticket_type": "adult"}],
        }
        headers = {"X-Hold-Token": hold["token"], "Idempotency-Key": f"late-{n}"}
        status, _, raw = await http.request(
            "POST", f"/v1/holds/{hold['id']}/checkout", body, headers
        )
        assert status == 201, raw
        checkouts.append((seat, hold["id"], msgspec.json.decode(raw)))
    pool = await create_pool(url, min_size=4, max_size=4)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE hold SET created_at = created_at - interval '1 hour',"
            " expires_at = now() - interval '1 s' WHERE status = 'live'"
        )
        await conn.execute(
            "UPDATE seat_claim SET expires_at = now() - interval '1 s' WHERE kind = 'hold'"
        )
        await box_office.sweep_expired_holds(conn, datetime.now(UTC))  # type: ignore[arg-type]
    taken = set()
    for n, (seat, _, _) in enumerate(checkouts):
        if n < int(count * taken_share):
            status, _, raw = await http.request(
                "POST",
                f"/v1/screenings/{screening}/holds",
                {"seats": [seat]},
                {"X-Forwarded-For": f"10.8.{n // 250}.{n % 250}"},
            )
            assert status == 201, raw
            taken.add(seat)
    for n, (_, _, started) in enumerate(checkouts):
        body, signature = callback(secret, started["id"], f"late-{n}", started["amount"])
        assert await post(http, body, signature) == 200
    await http.close()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    timings = Timings()

    async def worker() -> None:
        async with pool.acquire() as conn:
            while not queue.empty():
                n = queue.get_nowait()
                started = time.perf_counter()
                await money.act_on_callback(
                    conn,  # type: ignore[arg-type]
                    PROVIDER,
                    f"late-{n}",
                    datetime.now(UTC),
                )
                timings.add(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    elapsed = time.perf_counter() - began
    rows = await pool.fetch(
        "SELECT b.status, s.label, (SELECT count(*) FROM seat_claim c WHERE c.booking_id = b.id"
        " AND c.seat_id = bs.seat_id) AS on_it FROM booking b"
        " JOIN booking_seat bs ON bs.booking_id = b.id JOIN seat s ON s.id = bs.seat_id"
    )
    await pool.close()
    free = [r for r in rows if r["label"] not in taken]
    gone = [r for r in rows if r["label"] in taken]
    return {
        "free": len(free),
        "booked_same_seats": sum(1 for r in free if r["status"] == "confirmed" and r["on_it"]),
        "gone": len(gone),
        "unseated": sum(1 for r in gone if r["status"] == "unseated"),
        "acted_per_second": count / elapsed,
        "timings": timings,
    }


async def run(args: argparse.Namespace) -> None:
    name = f"usher_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.database_url, name)
    secret = secrets.token_urlsafe(48)
    server = None
    try:
        screening = await prepare(url)
        connections = args.workers * args.pool
        print(
            f"PostgreSQL {await admin.fetchval('SHOW server_version')}, {os.cpu_count()} CPUs; "
            f"API: {args.workers} worker process(es) x {args.pool} connections"
        )
        inserts = await baseline_inserts(url, connections, args.seconds, event=False)
        print(f"baseline: {inserts:,.0f} single-row INSERT transactions/s")
        env = {
            **os.environ,
            "USHER_DATABASE_URL": url,
            "USHER_REDIS_URL": args.redis_url,
            "USHER_REDIS_PREFIX": f"usher-bench-{secrets.token_hex(4)}:",
            "USHER_SECRET_KEY": secrets.token_urlsafe(48),
            "USHER_PAYMENT_PROVIDERS": f"{PROVIDER}={secret}",
            "USHER_DB_POOL_MAX": str(args.pool),
            "USHER_TRUSTED_PROXIES": "127.0.0.1",
            "USHER_RATE_HOLDS": "1000000/minute",
            "PYTHONPATH": str(ROOT),
        }
        server = start_api(env, args.port, args.workers)
        await wait_ready(args.port, server)
        rate, timings, statuses = await callbacks_per_second(
            args.port, secret, args.clients, args.seconds
        )
        print(
            f"callbacks: {rate:,.0f}/s acknowledged with their signature checked and stored "
            f"({args.clients} clients; {dict(statuses)}); {rate / inserts:.2f} x the INSERT "
            f"baseline; time to acknowledge p50 {timings.p(0.5):.1f} ms, "
            f"p99 {timings.p(0.99):.1f} ms"
        )
        late = await late_payments(args.port, url, secret, screening, args.late, 0.25)
        share = late["booked_same_seats"] / late["free"] if late["free"] else 0.0
        print(
            f"late payments: {late['booked_same_seats']}/{late['free']} whose seats were still "
            f"free became bookings on the same seats ({share:.0%}; goal: all); "
            f"{late['unseated']}/{late['gone']} whose seats were taken are 'paid, not seated'; "
            f"acted on at {late['acted_per_second']:,.0f}/s by 4 connections "
            f"({late['acted_per_second'] / inserts:.3f} x the INSERT baseline), "
            f"p99 {late['timings'].p(0.99):.1f} ms each"
        )
    finally:
        if server is not None:
            stop(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--pool", type=int, default=8, help="connections per API process")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--late", type=int, default=200, help="late payments (at most 2,000)")
    args = parser.parse_args()
    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
