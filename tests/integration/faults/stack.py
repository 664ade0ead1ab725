"""The fault tests' Usher: a private PostgreSQL (embedded wheels) and a private redis-server that
the tests stop and start, 2 APIs, 2 workers and 2 relays as real `usher` processes, a real SMTP
server (aiosmtpd, on the test's loop) that can be made slow, and a steady load of holds: some
confirmed (each a confirmation email), the others made to expire."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import msgspec
from aiosmtpd.smtp import SMTP, Envelope, Session
from redis.asyncio import Redis

from services.embedded import embedded_postgres
from services.settings import get_settings
from tests.integration.events.conftest import ROOT, PrivateRedis, free_port, wait_until
from workers.lag import measure

WORKER_GRACE = 20


@dataclass
class Mailbox:
    """Counts every message the server accepted, by Message-ID. With `delay`, each DATA waits
    that long before its 250 (a slow server); `sending` is set while one waits."""

    received: Counter[str] = field(default_factory=Counter)
    delay: float = 0.0
    sending: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            self.in_flight += 1
            self.sending.set()
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message_id = BytesHeaderParser().parsebytes(raw)["Message-ID"]
        self.received[str(message_id).strip()] += 1
        return "250 OK"

    @property
    def duplicates(self) -> dict[str, int]:
        return {m: n for m, n in self.received.items() if n > 1}


class PrivatePostgres:
    """A PostgreSQL of the test's own from the embedded wheels, to restart under load."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="usher-faults-pg-"))
        self._stack = ExitStack()
        self.server = self._stack.enter_context(
            embedded_postgres(self.folder / "pgdata", durable=False)
        )

    def url(self, database: str = "postgres") -> str:
        return self.server.url(database)  # its own unix socket, never the shared server

    def restart(self) -> None:
        from services.embedded import _embedded_postgres_module

        module = _embedded_postgres_module()
        user = "embedded_postgres" if os.geteuid() == 0 else None
        module.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.server.folder, user=user)

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class Load:
    """Holds through both APIs, one after another from a few concurrent clients: half of them
    confirmed (a booking, a confirmation email), half made to expire (backdated in the
    database, as if their time had passed). Answers other than 201/200, 409 and 503 are
    failures; a 500 never is fine."""

    def __init__(self, apis: list[str], pool: asyncpg.Pool, screenings: list[UUID]) -> None:
        self.apis = apis
        self.pool = pool
        self.screenings = screenings
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.booked = 0
        self.abandoned = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, clients: int = 3) -> None:
        self.statuses.clear()
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self, n: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                api = self.apis[(n + i) % len(self.apis)]
                try:
                    await self._one(http, api, n, i)
                except (httpx.TransportError, OSError, *POOL_ERRORS):
                    self.statuses[0] += 1  # a refused connection: the test's pool or the API
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.02)

    async def _one(self, http: httpx.AsyncClient, api: str, n: int, i: int) -> None:
        screening = random.choice(self.screenings)
        answer = await http.post(
            f"{api}/v1/screenings/{screening}/holds",
            json={"count": 2},
            headers={"X-Client-Id": f"load-{n}-{i}-{uuid4().hex[:6]}"},
        )
        if not self._fine(answer, 201):
            return
        made = answer.json()
        if i % 2:
            await self.pool.execute(BACKDATE, UUID(made["id"]))
            self.abandoned += 1
            return
        body = {
            "patron": {"name": "Load Patron", "email": f"patron-{n}-{i}@example.org"},
            "tickets": [{"seat": s["label"], "ticket_type": "adult"} for s in made["seats"]],
        }
        answer = await http.post(
            f"{api}/v1/holds/{made['id']}/confirm",
            json=body,
            headers={"X-Hold-Token": made["token"], "Idempotency-Key": uuid4().hex},
        )
        if self._fine(answer, 201, 200):
            self.booked += answer.status_code in (200, 201)

    def _fine(self, answer: httpx.Response, *ok: int) -> bool:
        self.statuses[answer.status_code] += 1
        if answer.status_code in ok:
            return True
        if answer.status_code == 503:
            assert answer.headers.get("retry-after"), answer.text
        elif answer.status_code != 409:
            self.failures.append(f"{answer.status_code} {answer.request.url.path} {answer.text}")
        return False


POOL_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
)

BACKDATE = """
    WITH h AS (
        UPDATE hold SET created_at = created_at - interval '1 hour',
                        expires_at = now() - interval '1 second'
        WHERE id = $1 AND status = 'live' RETURNING id
    )
    UPDATE seat_claim SET expires_at = now() - interval '1 second'
    WHERE hold_id IN (SELECT id FROM h) AND kind = 'hold'
"""


class Stack:
    """Everything one module of fault tests runs against."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.postgres = PrivatePostgres()
        self.redis_server = PrivateRedis()
        self.redis_server.start()
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self.smtp: asyncio.Server | None = None
        self.apis: dict[str, subprocess.Popen[bytes]] = {}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.relays: list[subprocess.Popen[bytes]] = []
        self.retired: list[subprocess.Popen[bytes]] = []
        self.started = 0
        self.log_of: dict[int, Path] = {}  # pid -> its log file
        base = get_settings()
        self.settings = msgspec.structs.replace(
            base,
            database=msgspec.structs.replace(base.database, url=self.postgres.url("usher")),
            redis=msgspec.structs.replace(
                base.redis, url=self.redis_server.url, prefix="usher-faults:"
            ),
        )

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "USHER_DATABASE_URL": self.settings.database.url,
            "USHER_REDIS_URL": self.settings.redis.url,
            "USHER_REDIS_PREFIX": self.settings.redis.prefix,
            "USHER_SMTP_HOST": "127.0.0.1",
            "USHER_SMTP_PORT": str(self.smtp_port),
            "USHER_SMTP_TIMEOUT_SECONDS": "3",
            "USHER_MAIL_LEASE_SECONDS": "12",
            "USHER_CLAIM_IDLE_MS": "3000",
            "USHER_CONSUMER_BLOCK_MS": "500",
            "USHER_RELAY_POLL_MS": "200",
            "USHER_WORKER_GRACE_SECONDS": str(WORKER_GRACE),
            "USHER_DB_POOL_MIN": "1",
            "USHER_DB_POOL_MAX": "6",
            **extra,
        }

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        self.started += 1
        name = f"{args[0]}-{self.started}"
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args],
            cwd=ROOT,
            env=self.env(USHER_HEALTH_FILE=str(self.tmp / f"{name}.alive")),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.log_of[proc.pid] = self.tmp / f"{name}.log"
        return proc

    def start_api(self) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.apis[url] = self._start("serve", "--port", str(port), "--log-level", "warning")
        return url

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._start("worker")
        self.workers.append(proc)
        return proc

    def start_relay(self) -> subprocess.Popen[bytes]:
        proc = self._start("relay")
        self.relays.append(proc)
        return proc

    def retire(self, proc: subprocess.Popen[bytes]) -> None:
        """A process this test stopped on purpose: replaced, as an orchestrator would."""
        for group in (self.workers, self.relays):
            if proc in group:
                group.remove(proc)
        self.retired.append(proc)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [*self.apis.values(), *self.workers, *self.relays]

    def dead(self) -> list[str]:
        return [" ".join(map(str, p.args[3:])) for p in self.processes if p.poll() is not None]

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in self.tmp.glob("*.log"))

    def close(self) -> None:
        try:
            for proc in [*self.processes, *self.retired]:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
            if self.smtp is not None:
                self.smtp.close()
        finally:
            try:
                self.redis_server.close()
            finally:
                self.postgres.close()


async def prepare(stack: Stack) -> tuple[asyncpg.Pool, Redis, list[UUID]]:
    """The database (migrated, the demo programme), clients, and the processes, all running."""
    from services.db import connect, create_pool
    from services.db.migrate import apply_migrations
    from services.demo import load_demo_data

    admin = await asyncpg.connect(stack.postgres.url())
    await admin.execute("CREATE DATABASE usher")
    await admin.close()
    conn = await connect(stack.settings.database.url)
    await apply_migrations(conn)
    from datetime import date

    await load_demo_data(conn, date.today())
    await conn.close()
    pool = await create_pool(stack.settings.database.url, min_size=1, max_size=6)
    redis = Redis.from_url(stack.settings.redis.url, socket_timeout=5)
    loop = asyncio.get_running_loop()
    stack.smtp = await loop.create_server(
        lambda: SMTP(stack.mailbox, hostname="faults-smtp", loop=loop),
        host="127.0.0.1",
        port=stack.smtp_port,
    )
    for _ in range(2):
        stack.start_api()
        stack.start_worker()
        stack.start_relay()
    async with httpx.AsyncClient(timeout=2) as http:

        async def apis_ready() -> bool:
            for url in stack.apis:
                try:
                    if (await http.get(f"{url}/readyz")).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
            return True

        await wait_until(apis_ready, within=60, every=0.2)
    rows = await pool.fetch(
        "SELECT id FROM screening WHERE status = 'on_sale'"
        " AND starts_at > now() + interval '25 hours' ORDER BY starts_at LIMIT 12"
    )
    return pool, redis, [row["id"] for row in rows]


@dataclass
class Settled:
    seconds: float  # from the end of the fault until every check held
    parts: dict[str, float]  # when each part first held: events, groups, emails, holds


async def settled(stack: Stack, pool: asyncpg.Pool, redis: Redis, since: float) -> Settled:
    """Wait until the system caught up by itself, then check every invariant."""
    parts: dict[str, float] = {}

    async def caught_up() -> bool:
        try:
            row = await pool.fetchrow(CAUGHT_UP)
            async with pool.acquire() as conn:
                report = await measure(stack.settings, conn, redis)
        except (OSError, *POOL_ERRORS):
            return False
        assert row is not None
        busy = [g for g in report.groups if g.pending or g.undelivered]
        now = round(time.monotonic() - since, 1)
        done = {
            "events published": report.outbox_waiting == 0,
            "groups caught up": report.healthy and not busy,
            "emails sent": row["emails"],
            "expired holds released": row["holds"],
        }
        for name, ok in done.items():
            if ok:
                parts.setdefault(name, now)
        return all(done.values())

    await wait_until(caught_up, within=90, every=0.2)
    took = time.monotonic() - since
    await check_invariants(stack, pool, redis)
    return Settled(took, parts)


CAUGHT_UP = """
    SELECT NOT EXISTS (SELECT 1 FROM hold WHERE status = 'live' AND expires_at < now()) AS holds,
           NOT EXISTS (SELECT 1 FROM email WHERE status <> 'sent') AS emails
"""


async def check_invariants(stack: Stack, pool: asyncpg.Pool, redis: Redis) -> None:
    twice = await pool.fetch(
        """
        SELECT b.screening_id, bs.seat_id
        FROM booking_seat bs JOIN booking b ON b.id = bs.booking_id
        WHERE b.status = 'confirmed' GROUP BY 1, 2 HAVING count(*) > 1
        """
    )
    assert not twice, f"seats sold twice: {twice[:5]}"
    expiries = await pool.fetch(
        """
        SELECT h.id, h.status, count(o.event_id) AS events
        FROM hold h LEFT JOIN outbox o
          ON o.event_type = 'hold.expired' AND o.aggregate_id = h.id::text
        GROUP BY h.id, h.status
        HAVING (h.status = 'expired') <> (count(o.event_id) = 1)
        """
    )
    assert not expiries, f"holds without exactly one HoldExpired: {[dict(r) for r in expiries[:5]]}"
    in_stream = Counter(
        fields[b"id"].decode()
        for _, fields in await redis.xrange(stack.settings.redis.events_stream)
    )
    outbox = {str(r["event_id"]) for r in await pool.fetch("SELECT event_id FROM outbox")}
    missing = outbox - set(in_stream)
    assert not missing, f"{len(missing)} outbox events never reached the stream"
    extra = {e: n for e, n in in_stream.items() if n > 1}
    assert not extra, f"{len(extra)} events in the stream more than once"
    sent = {r["message_id"] for r in await pool.fetch("SELECT message_id FROM email")}
    received = set(stack.mailbox.received)
    assert sent == received, f"emails not received: {sent - received}, unknown: {received - sent}"
    dead = stack.dead()
    assert not dead, f"processes exited: {dead}"


def exited(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


async def until(predicate: Any, within: float = 60.0) -> None:
    async def check() -> bool:
        return bool(predicate())

    await wait_until(check, within=within, every=0.05)
