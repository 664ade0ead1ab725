"""Commit -> readable latency through the outbox relay, and the relay's sustained events/s.

    python bench/relay_latency.py [--rate 1000] [--seconds 10] [--writers 16] [--backlog 20000]

It makes a database and a Redis prefix of its own on the servers it is given (default: the local
ones the tests use), removes both at the end, and prints:

1. baseline: the same writers at the same rate, each XADDing its own event right after its
   commit (a dual write, with none of the outbox's guarantees): the floor for "commit ->
   readable" on this machine;
2. relay: the writers only commit (the event goes to the outbox), a real `usher relay` process
   publishes; a separate reader process timestamps each entry as XREAD returns it;
3. drain: a backlog written while no relay runs, then the time one relay takes to publish it.

Latency is the reader's clock when the entry arrives minus the writer's clock (same machine, same
clock) when it sent COMMIT, and when the commit was acknowledged. The relay often beats the
acknowledgement (the WAL flush and the writer's own scheduling come after the row is visible),
so negative figures there are real; "after COMMIT sent" is the conservative figure.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import redis as redis_sync  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from schemas.events import FilmUpdated, encode_event  # noqa: E402
from services.db import connect, create_pool  # noqa: E402
from services.db.migrate import apply_migrations  # noqa: E402
from services.ids import uuid7  # noqa: E402
from services.outbox import record_event  # noqa: E402

FILMS = 500

ALWAYS_NOTIFY = """
    CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('usher_outbox', ''); RETURN NULL; END; $$
"""
DOORBELL_NOTIFY = (ROOT / "services/db/migrations/003_event_backbone.sql").read_text()
DOORBELL_NOTIFY = DOORBELL_NOTIFY[
    DOORBELL_NOTIFY.index("CREATE OR REPLACE FUNCTION outbox_notify") :
]


def _reader(redis_url: str, stream: str, expected: int, timeout: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """A separate process: XREAD the stream and note when each event id arrived."""
    client = redis_sync.Redis.from_url(redis_url, socket_timeout=10)
    seen: dict[str, float] = {}
    last = "0-0"
    deadline = time.time() + timeout
    out.put("ready")
    while len(seen) < expected and time.time() < deadline:
        reply = client.xread({stream: last}, count=1000, block=100)
        now = time.time()
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                seen.setdefault(fields[b"id"].decode(), now)
    out.put(seen)


def start_reader(
    redis_url: str, stream: str, expected: int, timeout: float
) -> tuple[mp.Process, mp.Queue]:  # type: ignore[type-arg]
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=_reader, args=(redis_url, stream, expected, timeout, queue))
    proc.start()
    assert queue.get(timeout=30) == "ready"
    return proc, queue


async def write(
    pool: asyncpg.Pool,
    films: list[tuple[UUID, str]],
    *,
    rate: float,
    seconds: float,
    writers: int,
    direct: Redis | None = None,
    stream: str = "",
) -> dict[str, tuple[float, float]]:
    """Commit `rate` events/s for `seconds` from `writers` connections, each transaction locking
    its film first (the ordering contract); return event id -> (COMMIT sent, acknowledged)."""
    committed: dict[str, tuple[float, float]] = {}
    interval = writers / rate
    start = time.monotonic() + 0.1
    per_writer = int(rate * seconds / writers)

    async def writer(n: int) -> None:
        async with pool.acquire() as conn:
            for k in range(per_writer):
                due = start + (k + n / writers) * interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                film_id, slug = films[(k * writers + n) % len(films)]
                event = FilmUpdated(
                    id=uuid7(),
                    occurred_at=datetime.now(UTC),
                    film_id=film_id,
                    slug=slug,
                    title=slug,
                    changed=["version"],
                )
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE film SET version = version + 1 WHERE id = $1", film_id
                    )
                    if direct is None:
                        await record_event(conn, event)
                    sent = time.time()  # COMMIT goes out as the block ends
                committed[str(event.id)] = (sent, time.time())
                if direct is not None:
                    await direct.xadd(stream, {"id": str(event.id), "event": encode_event(event)})

    await asyncio.gather(*(writer(n) for n in range(writers)))
    return committed


def summarize(
    name: str, committed: dict[str, tuple[float, float]], seen: dict[str, float], elapsed: float
) -> None:
    """Latency percentiles from COMMIT sent and from commit acknowledged to readable."""

    def quantiles(which: int) -> list[float]:
        values = sorted((seen[i] - t[which]) * 1000 for i, t in committed.items() if i in seen)
        return statistics.quantiles(values, n=100) if len(values) > 1 else [0.0] * 99

    sent, acked = quantiles(0), quantiles(1)
    missing = sum(1 for i in committed if i not in seen)
    print(
        f"{name:<9} {len(committed) / elapsed:5.0f} events/s written; readable after "
        f"COMMIT sent p50 {sent[49]:5.2f} p99 {sent[98]:5.2f} ms, "
        f"after commit acknowledged p50 {acked[49]:5.2f} p99 {acked[98]:5.2f} ms; "
        f"missing {missing}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "relay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main(args: argparse.Namespace) -> None:
    run = secrets.token_hex(4)
    name = f"usher_bench_{run}"
    prefix = f"usher-bench-{run}:"
    parts = urlsplit(args.database_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    redis = Redis.from_url(args.redis_url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "USHER_DATABASE_URL": url,
        "USHER_REDIS_URL": args.redis_url,
        "USHER_REDIS_PREFIX": prefix,
        "USHER_SECRET_KEY": os.environ.get("USHER_SECRET_KEY") or secrets.token_urlsafe(48),
    }
    relay: subprocess.Popen[bytes] | None = None
    try:
        conn = await connect(url)
        await apply_migrations(conn)
        await conn.execute(
            "INSERT INTO film (id, slug, title, runtime_minutes)"
            " SELECT gen_random_uuid(), 'film-' || n, 'Film ' || n, 90"
            " FROM generate_series(1, $1) AS n",
            FILMS,
        )
        films = [(r["id"], r["slug"]) for r in await conn.fetch("SELECT id, slug FROM film")]
        await conn.close()
        pool = await create_pool(url, min_size=args.writers, max_size=args.writers + 2)
        expected = int(args.rate * args.seconds / args.writers) * args.writers
        versions = (
            await pool.fetchval("SHOW server_version"),
            (await redis.info("server"))["redis_version"],
        )
        print(
            f"{args.rate:.0f} events/s for {args.seconds:.0f} s from {args.writers} writers; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
            f"PostgreSQL {versions[0]}, Redis {versions[1]}"
        )

        # 1. baseline: dual write, no outbox
        stream = f"{prefix}baseline"
        reader, queue = start_reader(args.redis_url, stream, expected, args.seconds + 30)
        t = time.monotonic()
        committed = await write(
            pool, films, rate=args.rate, seconds=args.seconds, writers=args.writers,
            direct=redis, stream=stream,
        )  # fmt: skip
        elapsed = time.monotonic() - t
        summarize("baseline", committed, queue.get(timeout=60), elapsed)
        reader.join()

        # 2. through the outbox and the relay: first with 001's trigger (a NOTIFY on every
        # write), then with the doorbell (003: writers NOTIFY only while the relay is idle)
        relay = relay_process(env)
        await asyncio.sleep(1.5)  # it connects, takes the lock, LISTENs
        stream = f"{prefix}events"
        for label, trigger in (("relay/001", ALWAYS_NOTIFY), ("relay", None)):
            if trigger:
                await pool.execute(trigger)
            else:
                await pool.execute(DOORBELL_NOTIFY)
            await pool.execute("TRUNCATE outbox")
            await redis.delete(stream)
            reader, queue = start_reader(args.redis_url, stream, expected, args.seconds + 30)
            cpu_before = cpu_seconds(relay.pid)
            t = time.monotonic()
            committed = await write(
                pool, films, rate=args.rate, seconds=args.seconds, writers=args.writers
            )
            elapsed = time.monotonic() - t
            summarize(label, committed, queue.get(timeout=60), elapsed)
            reader.join()
            cpu = cpu_seconds(relay.pid) - cpu_before
            print(
                f"{'':9} relay CPU {cpu * 1000 / len(committed):.3f} ms per event "
                f"({cpu / elapsed:.0%} of one CPU)"
            )
        relay.terminate()
        relay.wait()

        # 3. drain a backlog
        backlog = args.backlog
        await pool.execute(
            "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload)"
            " SELECT gen_random_uuid(), 'film.updated', 'film', f.id::text,"
            "   jsonb_build_object('type', 'film.updated', 'id', gen_random_uuid(),"
            "     'occurred_at', now(), 'film_id', f.id, 'slug', f.slug, 'title', f.title)"
            " FROM generate_series(1, $1) AS n"
            " JOIN film f ON f.slug = 'film-' || (1 + n % $2)",
            backlog,
            FILMS,
        )
        before = await redis.xlen(stream)
        t = time.monotonic()
        relay = relay_process(env)
        waiting = backlog
        while waiting:
            await asyncio.sleep(0.02)
            waiting = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        elapsed = time.monotonic() - t
        drained = await redis.xlen(stream) - before
        print(
            f"drain     {drained} events in {elapsed:.2f} s including the relay's start: "
            f"{drained / elapsed:,.0f} events/s"
        )
        await pool.close()
    finally:
        if relay is not None and relay.poll() is None:
            relay.terminate()
            relay.wait()
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    asyncio.run(main(parser.parse_args()))
