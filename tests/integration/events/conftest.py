"""Fixtures for the event backbone: settings with a Redis prefix of their own per test (inside
the run's prefix, so the session teardown removes every key), event writers that commit for real
from concurrent connections, relay and worker processes, and a private Redis server to stop."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import pytest
from redis.asyncio import Redis

from schemas.events import ScreeningUpdated
from services.ids import uuid7
from services.outbox import record_event
from services.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[3]


EVENT_TABLES = "outbox, processed_event, aggregate_last_event, relay_mark"


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """Overrides the root `db` for these tests: the demo programme (its screenings are the
    aggregates the writers change) is loaded once and kept; only the event tables are emptied
    between tests, which keeps each test's setup short."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT 1 FROM screening LIMIT 1"):
            from services.demo import load_demo_data

            await load_demo_data(conn, date.today())
        await conn.execute(f"TRUNCATE {EVENT_TABLES}")
    return pool


@pytest.fixture
def settings(environment: dict[str, str], db: asyncpg.Pool) -> Settings:
    """The run's settings with a fresh Redis prefix, quick claims and a short consumer block."""
    base = get_settings()
    prefix = f"{base.redis.prefix}{secrets.token_hex(3)}:"
    return msgspec.structs.replace(
        base,
        redis=msgspec.structs.replace(base.redis, prefix=prefix),
        events=msgspec.structs.replace(
            base.events, claim_idle_ms=1000, consumer_block_ms=200, relay_poll_ms=200
        ),
    )


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a subprocess running `usher` with these settings."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "USHER_DATABASE_URL": settings.database.url,
        "USHER_REDIS_URL": settings.redis.url,
        "USHER_REDIS_PREFIX": settings.redis.prefix,
        "USHER_CLAIM_IDLE_MS": str(settings.events.claim_idle_ms),
        "USHER_CONSUMER_BLOCK_MS": str(settings.events.consumer_block_ms),
        "USHER_RELAY_POLL_MS": str(settings.events.relay_poll_ms),
        "USHER_RELAY_BATCH_SIZE": str(settings.events.relay_batch_size),
        "USHER_CONSUMER_BATCH_SIZE": str(settings.events.consumer_batch_size),
        **extra,
    }


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def screenings(db: asyncpg.Pool) -> list[UUID]:
    """The demo programme's screenings: the aggregates the writers change."""
    rows = await db.fetch("SELECT id FROM screening ORDER BY starts_at")
    return [row["id"] for row in rows]


@dataclass
class Written:
    """What the writers committed: per screening, its event ids in commit order."""

    by_screening: dict[UUID, list[UUID]]

    @property
    def ids(self) -> set[UUID]:
        return {e for events in self.by_screening.values() for e in events}

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_screening.values())


async def change_screening(conn: asyncpg.Connection, screening_id: UUID) -> tuple[int, UUID]:
    """One transaction as a store writes it: lock the aggregate first (the contract in
    docs/streams.md), change it, record its event. Returns (new version, event id)."""
    async with conn.transaction():
        # Visibility and order are as with a durable commit; the tests only skip the WAL
        # flush wait (this disk takes ~3 ms per fsync).
        await conn.execute("SET LOCAL synchronous_commit = off")
        version = await conn.fetchval(
            "UPDATE screening SET version = version + 1 WHERE id = $1 RETURNING version",
            screening_id,
        )
        event_id = uuid7()
        await record_event(
            conn,
            ScreeningUpdated(
                id=event_id,
                occurred_at=datetime.now(UTC),
                screening_id=screening_id,
                changed=["version"],
            ),
        )
    return version, event_id


async def write_events(
    pool: asyncpg.Pool,
    screenings: list[UUID],
    total: int,
    *,
    writers: int = 8,
    pause: float = 0.0,
    on_error: Callable[[BaseException], Awaitable[None]] | None = None,
) -> Written:
    """`total` events from `writers` concurrent connections over the screenings, each in its
    own committed transaction; commit order per screening comes from its version counter."""
    versions: dict[UUID, dict[int, UUID]] = {s: {} for s in screenings}
    counter = iter(range(total))

    async def writer(n: int) -> None:
        async with pool.acquire() as conn:
            for i in counter:
                screening = screenings[(i * 7 + n) % len(screenings)]
                version, event_id = await change_screening(conn, screening)
                versions[screening][version] = event_id
                if pause:
                    await asyncio.sleep(pause)

    await asyncio.gather(*(writer(n) for n in range(writers)))
    return Written(
        {s: [v[k] for k in sorted(v)] for s, v in versions.items() if v},
    )


async def stream_entries(redis: Redis, stream: str) -> list[tuple[str, dict[bytes, bytes]]]:
    return [(sid.decode(), fields) for sid, fields in await redis.xrange(stream)]


def check_stream(
    entries: list[tuple[str, dict[bytes, bytes]]], written: Written, *, duplicates: bool = False
) -> int:
    """Every written event is in the stream, each screening's events in commit order (first
    occurrences); returns how many entries were duplicates."""
    seen: dict[UUID, int] = {}
    order: list[UUID] = []
    for _, fields in entries:
        event_id = UUID(fields[b"id"].decode())
        if event_id in seen:
            seen[event_id] += 1
            continue
        seen[event_id] = 1
        order.append(event_id)
    missing = written.ids - set(seen)
    assert not missing, f"{len(missing)} events never reached the stream"
    position = {e: i for i, e in enumerate(order)}
    for screening, events in written.by_screening.items():
        positions = [position[e] for e in events]
        assert positions == sorted(positions), f"screening {screening} out of commit order"
    extra = sum(n - 1 for n in seen.values())
    if not duplicates:
        assert extra == 0, f"{extra} duplicate entries"
    return extra


def published(pool: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    """True once every outbox row is marked published (each was added to the stream first)."""

    async def check() -> bool:
        waiting = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return bool(waiting == 0)

    return check


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float = 30.0, every: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(every)


@asynccontextmanager
async def running(*runnables: Any) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run objects with `run()`/`stop()` (a Relay, a GroupRunner) as tasks on this loop."""
    tasks = [asyncio.create_task(r.run()) for r in runnables]
    try:
        yield tasks
    finally:
        for r in runnables:
            r.stop()
        _, late = await asyncio.wait(tasks, timeout=5)
        for task in late:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and not isinstance(failures[0], asyncio.CancelledError):
            raise failures[0]


class Processes:
    """`usher` subprocesses started by a test; every one still alive is killed at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, settings: Settings, *args: str, **env: str) -> subprocess.Popen[bytes]:
        # The child writes to its own copy of the file descriptor; ours closes at once.
        with open(self.tmp / f"{args[0]}-{len(self.started)}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *args],
                cwd=ROOT,
                env=env_for(settings, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("*.log")))

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of this test's own, to stop and start again (never the shared one).
    Append-only with fsync on every write, so what it acknowledged survives a kill."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            pytest.skip("no redis-server binary to start a private Redis")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="usher-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.close()


def group_runner(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: Redis,
    consumer: Any = None,
    *,
    name: str = "test-consumer",
    arq: Any = None,
) -> Any:
    """A GroupRunner for `consumer` (default: the real `last-event` group)."""
    from workers.consumers import GroupRunner
    from workers.registry import CONSUMERS

    return GroupRunner(
        consumer or CONSUMERS[0], settings=settings, pool=pool, redis=redis, name=name, arq=arq
    )


_EFFECTS = """
    SELECT o.aggregate_type, o.aggregate_id, count(*) AS events, l.events_seen
    FROM outbox o
    LEFT JOIN aggregate_last_event l USING (aggregate_type, aggregate_id)
    GROUP BY o.aggregate_type, o.aggregate_id, l.events_seen
"""


def effects_caught_up(pool: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    """True once the `last-event` group has applied (at least) every outbox event."""

    async def check() -> bool:
        rows = await pool.fetch(_EFFECTS)
        return all((row["events_seen"] or 0) >= row["events"] for row in rows)

    return check


async def assert_effects_once(pool: asyncpg.Pool, written: Written) -> None:
    """Exactly one effect per event, and each screening's newest event is its last written."""
    rows = await pool.fetch(_EFFECTS)
    wrong = [dict(r) for r in rows if r["events"] != r["events_seen"]]
    assert not wrong, f"effects not applied exactly once: {wrong[:5]}"
    last = {
        r["aggregate_id"]: r["event_id"]
        for r in await pool.fetch(
            "SELECT aggregate_id, event_id FROM aggregate_last_event"
            " WHERE aggregate_type = 'screening'"
        )
    }
    for screening, events in written.by_screening.items():
        assert last[str(screening)] == events[-1]
    processed = await pool.fetchval(
        "SELECT count(*) FROM processed_event WHERE consumer = 'last-event'"
    )
    assert processed == await pool.fetchval("SELECT count(*) FROM outbox")
