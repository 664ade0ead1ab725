"""Box-office figures on this machine: holds/s, an on-sale rush, seat-map reads/s, and in the same
run a baseline of plain INSERT transactions through asyncpg.

    python bench/holds.py [--database-url ADMIN_URL] [--redis-url URL] [--workers 2]

It creates its own database (`usher_bench_<random>`) on the PostgreSQL server of ADMIN_URL
(default: the local one), migrates it with the real runner, starts its own API server processes
(`usher serve --workers N`), drives them with a minimal keep-alive HTTP/1.1 client (httpx costs
more CPU than the server on a small machine), prints the figures, then stops the servers and drops
the database. The API and the relay use Redis under a prefix of its own, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.catalog import AuditoriumIn, Price, ScreeningIn, SeatIn  # noqa: E402
from schemas.events import ScreeningUpdated  # noqa: E402
from services.catalog import service as catalog  # noqa: E402
from services.db import connect, create_pool  # noqa: E402
from services.db.migrate import apply_migrations  # noqa: E402
from services.demo import load_demo_data  # noqa: E402
from services.ids import uuid7  # noqa: E402
from services.outbox import record_event  # noqa: E402

# -- a small HTTP/1.1 client: one keep-alive connection per simulated client ---------------------


class Http:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = b"" if body is None else msgspec.json.encode(body)
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        answer_headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        length = int(answer_headers.get("content-length", "0"))
        content = await self.reader.readexactly(length) if length else b""
        return status, answer_headers, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Timings:
    latencies: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


# -- setup ---------------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def standard_seats(rows: int, per_row: int) -> list[SeatIn]:
    """Rows of standard seats with a centre aisle."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    seats = []
    for r in range(rows):
        row = letters[r] if r < 26 else f"R{r}"
        for n in range(1, per_row + 1):
            x = float(n + (1 if n > per_row // 2 else 0))
            seats.append(SeatIn(f"{row}{n}", row, r + 1, n, x, float(r + 1)))
    return seats


# How many times best available and explicit seats are compared on a hall of each size, in
# turn: a 300-seat hall fills in a fifth of a second, so one comparison is mostly the machine's
# noise of the moment; four in turn, added up, are not. On a busy 2-core machine one comparison
# on 2,000 seats (about 1.5 s each way) fell under 0.8 in 3 of 6 runs of an evening (0.71-0.78,
# 0.96-1.08 in the others): three turns there now, and two on 5,000 seats.
TURNS = {300: 4, 2000: 3, 5000: 2}
# The patrons of each comparison, apart from every other phase's (the per-address caps and
# rates count by address; `_from` makes 24 bits of one): explicit seats from 2 << 20, under
# 1 << 19 each (50 clients x 10,000), best available from 12 << 20, under 1 << 18 each.
EXPLICIT_PATRONS, BEST_PATRONS = 2 << 20, 12 << 20
assert EXPLICIT_PATRONS + 2 * sum(TURNS.values()) * (1 << 19) <= BEST_PATRONS
assert BEST_PATRONS + sum(TURNS.values()) * (1 << 18) <= 1 << 24
# Explicit seats, each client's share used up; the same, then each client's last request
# refused (as best available's is); best available until the hall is full.
COMPARED = ("explicit", "explicit-refused", "best")
# pretix's rush, on a screening of its own each time: its last sale comes within half a second,
# where one run is the machine's moment as much as the code's
RUSHES = 3


def compared(size: int) -> tuple[str, ...]:
    return tuple(f"{use}-{size}-{n}" for n in range(1, TURNS[size] + 1) for use in COMPARED)


# (name, rows, seats per row, what each of its screenings is for)
HALLS = (
    ("wide", 50, 100, ("wide", *compared(5000))),
    ("rush", 15, 20, ("rush", *(f"pretix-rush-{n}" for n in range(1, RUSHES + 1)), *compared(300))),
    ("large", 40, 50, compared(2000)),
)


async def prepare(url: str) -> dict[str, Any]:
    """Migrate, load the demo programme, and add the bench's halls and screenings."""
    conn = await connect(url)
    try:
        await apply_migrations(conn)
        await load_demo_data(conn, date.today())
        venue_id = await conn.fetchval("SELECT id FROM venue WHERE slug = 'riverside'")
        starts = datetime.now(UTC) + timedelta(days=60)
        made: dict[str, Any] = {}
        for name, rows, per_row, screenings in HALLS:
            hall = await catalog.add_auditorium(
                conn, None, AuditoriumIn(venue_id, name, name, standard_seats(rows, per_row))
            )
            for n, use in enumerate(screenings):
                screening = await catalog.schedule_screening(
                    conn,
                    None,
                    ScreeningIn(
                        film="here",
                        auditorium_id=hall.id,
                        starts_at=starts + timedelta(days=n),
                        prices=[Price("adult", 1200)],
                    ),
                )
                made[use] = (screening.id, [seat.label for seat in hall.seats])
        await conn.execute(
            "CREATE TABLE bench_insert (id uuid PRIMARY KEY, payload text, at timestamptz)"
        )
        return made
    finally:
        await conn.close()


def start_relay(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The event relay, as every deployment runs it: while it is busy it polls, so the outbox
    trigger does not NOTIFY (notifying commits are serialised by PostgreSQL)."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "relay"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_api(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


async def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API server exited")
        try:
            http = Http("127.0.0.1", port)
            status, _, _ = await http.request("GET", "/healthz")
            await http.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the API server did not start")


# -- the measurements ----------------------------------------------------------------------------


async def baseline_inserts(url: str, concurrency: int, seconds: float, event: bool) -> float:
    """Single-row INSERT transactions per second through asyncpg (autocommit: one each), into a
    plain table, or (`event`) into the outbox through record_event, as every hold does."""
    pool = await create_pool(url, min_size=concurrency, max_size=concurrency)
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < stop:
                if event:
                    await record_event(
                        conn,  # type: ignore[arg-type]
                        ScreeningUpdated(
                            id=uuid7(), occurred_at=datetime.now(UTC), screening_id=uuid7()
                        ),
                    )
                else:
                    await conn.execute(
                        "INSERT INTO bench_insert (id, payload, at) VALUES ($1, $2, now())",
                        uuid.uuid4(),
                        "x" * 40,
                    )
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return done / elapsed


def _from(n: int) -> dict[str, str]:
    """A patron's own address (10.x.y.z), which the bench's API reads from X-Forwarded-For as
    it trusts its local peer as a proxy (USHER_TRUSTED_PROXIES): every per-caller limit then
    counts each patron apart, as behind a real proxy."""
    return {"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}


async def holds_on_distinct_seats(
    port: int,
    screening: str,
    labels: list[str],
    clients: int,
    per_hold: int,
    connections: list[Http] | None = None,
    patrons: int = 0,
    refused_last: bool = False,
) -> tuple[float, Timings, int]:
    """Each client holds its own seats, `per_hold` at a time, until its share is used up; on
    `connections` (one per client, kept open) or each on a new one; each hold from a patron
    address of its own, numbered from `patrons`. With `refused_last`, each client then asks
    once more, for seats it holds (answered 409 'seats taken'), as a best-available client's
    last request is refused once the hall is full; holds/s are timed to the last hold."""
    timings = Timings()
    shares = [labels[i::clients] for i in range(clients)]
    made = 0
    last_hold = 0.0

    async def client(share: list[str], n: int) -> None:
        nonlocal made, last_hold
        http = connections[n] if connections else Http("127.0.0.1", port)
        for k in range(0, len(share) - per_hold + 1, per_hold):
            t = time.perf_counter()
            status, _, body = await http.request(
                "POST",
                f"/v1/screenings/{screening}/holds",
                {"seats": share[k : k + per_hold]},
                _from(patrons + n * 10_000 + k),  # each hold its own patron
            )
            timings.add(time.perf_counter() - t)
            if status != 201:
                raise RuntimeError(f"hold refused: {status} {body[:200]!r}")
            made += 1
            last_hold = time.perf_counter()
        if refused_last:
            status, _, body = await http.request(
                "POST",
                f"/v1/screenings/{screening}/holds",
                {"seats": share[:per_hold]},
                _from(patrons + n * 10_000 + 9_999),
            )
            if status != 409:
                raise RuntimeError(f"held seats held again: {status} {body[:200]!r}")
        if not connections:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(share, n) for n, share in enumerate(shares)))
    return made / (last_hold - started), timings, made


async def rush(
    port: int, screening: str, clients: int, requests: int
) -> tuple[float | None, Timings, Timings, dict[int, int]]:
    """`requests` hold attempts from `clients` patrons at once for one screening; each patron
    wants 1-4 seats together (best available), settles for fewer, and confirms what it gets."""
    hold_timings, confirm_timings = Timings(), Timings()
    statuses: dict[int, int] = {}
    rng = random.Random(1)
    sold_out_at: list[float] = []
    booked = 0
    go = asyncio.Event()

    async def patron(n: int, attempts: int) -> None:
        nonlocal booked
        http = Http("127.0.0.1", port)
        await http.request("GET", "/healthz")  # connected before the doors open
        await go.wait()
        wanted = rng.randint(1, 4)
        for attempt in range(attempts):
            count = max(1, wanted - attempt)
            t = time.perf_counter()
            status, _, body = await http.request(
                "POST",
                f"/v1/screenings/{screening}/holds",
                {"count": count},
                _from(n),
            )
            hold_timings.add(time.perf_counter() - t)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 201:
                continue
            held = msgspec.json.decode(body)
            seats = [seat["label"] for seat in held["seats"]]
            t = time.perf_counter()
            status, _, body = await http.request(
                "POST",
                f"/v1/holds/{held['id']}/confirm",
                {
                    "patron": {"name": f"Patron {n}", "email": f"p{n}@example.org"},
                    "tickets": [{"seat": s, "ticket_type": "adult"} for s in seats],
                },
                {"X-Hold-Token": held["token"], "Idempotency-Key": f"{n}-{attempt}"},
            )
            confirm_timings.add(time.perf_counter() - t)
            if status != 201:
                raise RuntimeError(f"confirm refused: {status} {body[:200]!r}")
            booked += len(seats)
            if booked >= 300 and not sold_out_at:
                sold_out_at.append(time.perf_counter())
        await http.close()

    per_client = requests // clients
    tasks = [asyncio.create_task(patron(n, per_client)) for n in range(clients)]
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    sell_out = sold_out_at[0] - started if sold_out_at else None
    return sell_out, hold_timings, confirm_timings, statuses


async def best_available_until_full(
    port: int, screening: str, clients: int, count: int, connections: list[Http], patrons: int
) -> tuple[float, float, Timings, int, Counter[str]]:
    """Each client, on its connection, asks for the best `count` seats (a new patron address
    each time, numbered from `patrons`) until refused: holds/s until the last hold (the hall
    full; as holds_on_distinct_seats is timed to its last hold), holds/s until the last
    refusal, latency, holds made and the refusals' reasons."""
    timings = Timings()
    reasons: Counter[str] = Counter()
    made = 0
    last_hold = 0.0

    async def client(n: int) -> None:
        nonlocal made, last_hold
        http = connections[n]
        for k in itertools.count():
            t = time.perf_counter()
            status, _, body = await http.request(
                "POST",
                f"/v1/screenings/{screening}/holds",
                {"count": count},
                _from(patrons + n * 4096 + k),
            )
            timings.add(time.perf_counter() - t)
            if status != 201:
                reasons[msgspec.json.decode(body).get("reason", str(status))] += 1
                break
            made += 1
            last_hold = time.perf_counter()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    return made / (last_hold - started), made / elapsed, timings, made, reasons


async def pretix_rush(
    port: int, screening: str, clients: int, requests: int
) -> tuple[int, float | None, Timings, Counter[int]]:
    """The rush as pretix runs it: `requests` independent single-seat best-available holds from
    `clients` connections at once, each answer taken as it is (no retry, no confirm). Seats
    held, when the last one was, latency, and the answers."""
    timings = Timings()
    answers: Counter[int] = Counter()
    last: list[float] = []
    go = asyncio.Event()

    async def client(n: int) -> None:
        http = Http("127.0.0.1", port)
        await http.request("GET", "/healthz")  # connected before the doors open
        await go.wait()
        for k in range(requests // clients):
            t = time.perf_counter()
            status, _, _ = await http.request(
                "POST",
                f"/v1/screenings/{screening}/holds",
                {"count": 1},
                _from((1 << 20) + n * 4096 + k),
            )
            timings.add(time.perf_counter() - t)
            answers[status] += 1
            if status == 201:
                last.append(time.perf_counter())
        await http.close()

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    return answers[201], (max(last) - started if last else None), timings, answers


async def get_many(
    port: int, path: str, clients: int, seconds: float, headers: dict[str, str], ok: set[int]
) -> tuple[float, Timings]:
    """GET `path` from `clients` keep-alive connections for `seconds`: answers/s and latency."""
    timings = Timings()
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        http = Http("127.0.0.1", port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status, _, _ = await http.request("GET", path, headers=headers)
            timings.add(time.perf_counter() - t)
            assert status in ok, status
            done += 1
        await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started), timings


async def seat_map_reads(
    port: int, screening: str, clients: int, seconds: float, etag: str | None
) -> tuple[float, Timings]:
    headers = {"If-None-Match": etag} if etag else {}
    return await get_many(
        port, f"/v1/screenings/{screening}/seats", clients, seconds, headers, {200, 304}
    )


# -- the run -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    name = f"usher_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.database_url, name)
    prefix = f"usher-bench-{secrets.token_hex(4)}:"
    server: subprocess.Popen[bytes] | None = None
    relay: subprocess.Popen[bytes] | None = None
    try:
        made = await prepare(url)
        wide, wide_labels = made["wide"]
        rush_screening, _ = made["rush"]
        connections = args.workers * args.pool
        print(
            f"PostgreSQL {await admin.fetchval('SHOW server_version')}, {os.cpu_count()} CPUs; "
            f"API: {args.workers} worker process(es) x {args.pool} connections"
        )

        if args.no_notify:
            conn = await connect(url)
            await conn.execute("ALTER TABLE outbox DISABLE TRIGGER outbox_notify")
            await conn.close()
            print("experiment: the outbox's NOTIFY trigger is disabled in the bench database")
        inserts = await baseline_inserts(url, connections, args.seconds, event=False)
        print(
            f"baseline: {inserts:,.0f} single-row INSERT transactions/s "
            f"({connections} asyncpg connections)"
        )
        outbox = await baseline_inserts(url, connections, args.seconds, event=True)
        print(
            f"context: {outbox:,.0f} single-row outbox INSERT transactions/s through "
            "record_event, as every hold writes one"
            + ("" if args.no_notify else " (its NOTIFY trigger serialises notifying commits)")
        )

        port = args.port
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "USHER_DATABASE_URL": url,
            "USHER_REDIS_URL": args.redis_url,
            "USHER_REDIS_PREFIX": prefix,
            "USHER_DB_POOL_MIN": str(args.pool),
            "USHER_DB_POOL_MAX": str(args.pool),
            "USHER_SECRET_KEY": os.environ.get("USHER_SECRET_KEY") or secrets.token_urlsafe(48),
            "USHER_TRUSTED_PROXIES": "127.0.0.1",
        }
        server = start_api(env, port, args.workers)
        if not args.no_relay:
            relay = start_relay(env)
            print("the event relay runs beside the API (--no-relay to leave it out)")
        await wait_ready(port, server)
        # Warm every worker's connections and caches.
        await seat_map_reads(port, str(wide), 50, 1.0, None)

        rate, timings, count = await holds_on_distinct_seats(
            port, str(wide), wide_labels, args.clients, 2
        )
        print(
            f"holds: {rate:,.0f} holds/s of 2 seats ({count} holds, {args.clients} clients "
            f"on distinct seats), p50 {timings.p(0.5):.1f} ms, p99 {timings.p(0.99):.1f} ms"
        )
        print(
            f"ratio holds/s / inserts/s: {rate / inserts:.3f} (explicit seats; issue 13: no lower "
            "than the code before it, 5750a42, made back to back with this bench's code: "
            "0.069-0.070 on 6 December, 19:25 UTC)"
        )
        ceiling, _ = await get_many(port, "/v1/nothing", args.clients, args.seconds, {}, {404})
        print(
            f"ceiling: {ceiling:,.0f} answers/s for an unknown path (404 problem+json, no "
            f"database): what uvicorn, Litestar and this load generator allow here; holds/s are "
            f"{rate / ceiling:.2f} of it"
        )

        for n in range(1, RUSHES + 1):
            held, last_sale, pretix_t, pretix_answers = await pretix_rush(
                port, str(made[f"pretix-rush-{n}"][0]), 200, 2000
            )
            tally = ", ".join(f"{k} x {code}" for code, k in sorted(pretix_answers.items()))
            print(
                f"pretix's rush ({n} of {RUSHES}): 2,000 single-seat best-available requests "
                f"from 200 clients for 300 seats, no retry ({tally}): "
                f"{held} seats held (goal: 300), the last after "
                + (f"{last_sale:.2f} s" if last_sale is not None else "-")
                + f" (goal < 0.5 s); p50 {pretix_t.p(0.5):.1f} ms, p99 {pretix_t.p(0.99):.1f} ms"
            )
        explicit_patrons = itertools.count(EXPLICIT_PATRONS, 1 << 19)
        best_patrons = itertools.count(BEST_PATRONS, 1 << 18)
        for size, turns in TURNS.items():
            seconds = dict.fromkeys(("explicit", "refused", "best", "best-refused"), 0.0)
            latency = {use: Timings() for use in ("explicit", "refused", "best")}
            made_n, best_n, while_free, asked = 0, 0, 0, 0
            for turn in range(1, turns + 1):
                # All on the same connections: the API processes share them out as they will
                # (by a hash of each one's port), and the three are compared on the same share.
                connections = [Http("127.0.0.1", port) for _ in range(args.clients)]
                for use, key in (("explicit", "explicit"), ("explicit-refused", "refused")):
                    explicit_id, labels = made[f"{use}-{size}-{turn}"]
                    rate, taken, count = await holds_on_distinct_seats(
                        port,
                        str(explicit_id),
                        labels,
                        args.clients,
                        2,
                        connections,
                        next(explicit_patrons),
                        refused_last=key == "refused",
                    )
                    seconds[key] += count / rate  # added up over the turns
                    latency[key].latencies += taken.latencies
                    made_n = count
                best_id, _ = made[f"best-{size}-{turn}"]
                rate, refused_rate, taken, n, reasons = await best_available_until_full(
                    port,
                    str(best_id),
                    args.clients,
                    2,
                    connections,
                    next(best_patrons),
                )
                for http in connections:
                    await http.close()
                seconds["best"] += n / rate
                seconds["best-refused"] += n / refused_rate
                latency["best"].latencies += taken.latencies
                best_n += n
                asked += n + sum(reasons.values())
                while_free += sum(reasons.values()) if 2 * n < size - 1 else 0
                while_free += sum(
                    k for reason, k in reasons.items() if reason != "not enough seats"
                )
            explicit_n = made_n * turns
            explicit, refused = explicit_n / seconds["explicit"], explicit_n / seconds["refused"]
            best, with_refusals = best_n / seconds["best"], best_n / seconds["best-refused"]
            e_t, r_t, b_t = latency["explicit"], latency["refused"], latency["best"]
            print(
                f"{size:,} seats, {args.clients} clients, 2 seats a hold"
                + (f", {turns} halls of each in turn" if turns > 1 else "")
                + f": best available {best:,.0f} holds/s until the hall was full, each client "
                f"asking until refused (p50 {b_t.p(0.5):.1f}, p99 {b_t.p(0.99):.1f} ms; {best_n} "
                f"holds, {2 * best_n} seats; {with_refusals:,.0f} until the last refusal); "
                f"explicit seats, each client's last request refused too, {refused:,.0f} holds/s "
                f"(p50 {r_t.p(0.5):.1f}, p99 {r_t.p(0.99):.1f} ms): ratio {best / refused:.2f} "
                f"(goal >= 0.8); explicit seats, no refusal, {explicit:,.0f} holds/s (p50 "
                f"{e_t.p(0.5):.1f}, p99 {e_t.p(0.99):.1f} ms; {explicit / inserts:.3f} of the "
                f"INSERT baseline): {best / explicit:.2f}; refusals while seats were free: "
                f"{while_free} of {asked} (goal 0)"
            )

        sell_out, holds_t, confirms_t, statuses = await rush(port, str(rush_screening), 200, 2000)
        check = await asyncpg.connect(url)
        sold = await check.fetchval(
            "SELECT count(*) FROM seat_claim WHERE screening_id = $1 AND kind = 'booking'",
            rush_screening,
        )
        status = await check.fetchval("SELECT status FROM screening WHERE id = $1", rush_screening)
        sold_out_events = await check.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'screening.sold_out'"
            " AND aggregate_id = $1",
            str(rush_screening),
        )
        await check.close()
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(statuses.items()))
        print(
            f"rush: {sum(statuses.values())} hold requests from 200 clients for 300 seats "
            f"({answers}): {sold} seats sold, screening {status} "
            f"({sold_out_events} ScreeningSoldOut), "
            + (f"sold out in {sell_out:.2f} s" if sell_out else "not sold out")
        )
        print(
            f"rush latency: holds p50 {holds_t.p(0.5):.1f} ms, p99 {holds_t.p(0.99):.1f} ms; "
            f"confirms p50 {confirms_t.p(0.5):.1f} ms, p99 {confirms_t.p(0.99):.1f} ms"
        )

        reads, read_t = await seat_map_reads(port, str(rush_screening), 50, args.seconds, None)
        http = Http("127.0.0.1", port)
        _, headers, _ = await http.request("GET", f"/v1/screenings/{rush_screening}/seats")
        await http.close()
        cached, cached_t = await seat_map_reads(
            port, str(rush_screening), 50, args.seconds, headers["etag"]
        )
        print(
            f"seat map (300 seats): {reads:,.0f} reads/s (p99 {read_t.p(0.99):.1f} ms); "
            f"{cached:,.0f} reads/s answered 304 (p99 {cached_t.p(0.99):.1f} ms)"
        )
    finally:
        for process in (relay, server):
            if process is not None:
                stop(process)
        redis = Redis.from_url(args.redis_url)
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)  # the relay's stream and fence
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="an admin connection to a PostgreSQL server (the bench makes its own database)",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--port", type=int, default=0, help="the API's port (default: a free one)")
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--pool", type=int, default=8, help="connections per API process")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--no-notify",
        action="store_true",
        help="experiment: disable the outbox NOTIFY trigger in the bench database",
    )
    parser.add_argument(
        "--no-relay", action="store_true", help="leave the event relay out (the API alone)"
    )
    args = parser.parse_args()
    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
