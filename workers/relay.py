"""The relay: moves committed outbox rows to the events Redis Stream, in order, without loss.

One relay leads at a time: it holds a session advisory lock on its own (unpooled) connection,
LISTENs there for the outbox trigger's NOTIFY and falls back to polling. Other relays wait as hot
standbys and take over within `STANDBY_POLL` seconds when the leader's session ends.

The doorbell (003_event_backbone.sql): PostgreSQL serializes the commits of every transaction
that sent a NOTIFY, WAL flush included, which caps event-writing transactions near one per fsync.
So writers NOTIFY only while the relay has armed the doorbell: while events come slower than
`relay_busy_rate`/s (a NOTIFY wakes the relay at once, the lowest latency); faster than that,
the relay disarms it and polls every `relay_busy_poll_ms` instead. The writer that rings
disarms the bell as it does (025_outbox_doorbell_rings_once.sql), so one NOTIFY wakes the relay
however many writers commit meanwhile. Before it sleeps again the relay arms the doorbell and waits
until every transaction that may have read it disarmed has ended, so a wake-up is never lost
(writers at READ COMMITTED, as our stores are); at worst the poll finds it.

Each batch: read up to `relay_batch_size` unpublished rows in `position` order, XADD them all in
one Lua script (atomic, and refused unless this relay still holds the fence token in Redis), then
mark them published in one UPDATE. docs/streams.md explains why this keeps every aggregate's
commit order, and what a transaction must do for that to hold.

Failures:
- Redis unreachable: the rows stay unpublished in PostgreSQL; the relay retries with backoff and
  drains the backlog in order once Redis answers.
- A crash (or lost connection) between the XADD and the UPDATE: the next leader sets a new fence
  token, reads the stream's tail and marks the rows it finds there as published, so they are not
  added twice. Consumers still drop duplicates by event id, for the cases no relay can see (a
  deposed leader whose script ran before the fence moved is in the tail too; a Redis that lost
  its data is not).
- PostgreSQL unreachable: the relay steps down, reconnects with backoff and stands for leader again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from uuid import UUID

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services import tracing
from services.ids import uuid7
from services.outages import OUTAGES
from services.redis_client import connect_redis
from services.settings import Settings
from workers.constants import NOTIFY_CHANNEL, RELAY_FENCE, RELAY_LOCK, key
from workers.metrics import RELAY_LEADING, count_published

log = logging.getLogger("usher.relay")

STANDBY_POLL = 0.25  # seconds between a standby's attempts to take the lock
BACKOFF_START = 0.05
BACKOFF_MAX = 2.0
TAIL_MIN = 1000  # stream entries read back on recovery, at least
ACTIVE_POLL = 0.002  # seconds: the first wait for writers after arming the doorbell
# PostgreSQL or Redis gone, or a PostgreSQL refusal of the relay's session: step down, retry.
RELAY_OUTAGES: tuple[type[BaseException], ...] = (*OUTAGES, asyncpg.PostgresError)
FENCE_CHECK = 1.0  # seconds between looks at the fence (is Redis the one we published to?)

# KEYS: fence key, stream. ARGV: fence token, MINID, then (id, type, event) per entry.
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return redis.error_reply('FENCED this relay is no longer the leader')
end
if ARGV[3] ~= '' then
    local tail = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
    if #tail == 0 or tail[1][1] ~= ARGV[3] then
        return redis.error_reply('LOST the stream no longer ends with the entry last added')
    end
end
local last = ''
for i = 4, #ARGV, 3 do
    last = redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[2], '*',
        'id', ARGV[i], 'type', ARGV[i + 1], 'event', ARGV[i + 2])
end
return last
"""

_SELECT_BATCH = """
    SELECT position, event_id, event_type, payload::text AS payload
    FROM outbox
    WHERE published_at IS NULL
    ORDER BY position
    LIMIT $1
"""
_DOORBELL = """
    INSERT INTO outbox_doorbell (id, armed) VALUES (true, $1)
    ON CONFLICT (id) DO UPDATE SET armed = EXCLUDED.armed
"""
_NEXT_XID = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text"
_HORIZON_PASSED = "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8"
_MARK_PUBLISHED = """
    WITH published AS (
        UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])
    )
    INSERT INTO relay_mark (stream, stream_id, event_id, marked_at) VALUES ($4, $2, $3, now())
    ON CONFLICT (stream) DO UPDATE
    SET stream_id = EXCLUDED.stream_id, event_id = EXCLUDED.event_id, marked_at = now()
"""
_MARK = "SELECT stream_id, event_id FROM relay_mark WHERE stream = $1"
# Redis lost entries it had acknowledged: publish again what was published at or after the
# newest surviving entry ($1; NULL when none survived: every retained row), except the entries
# still there ($2); the stream's mark ($3) goes with them.
_REPUBLISH = """
    WITH lost AS (
        UPDATE outbox SET published_at = NULL
        WHERE published_at IS NOT NULL
          AND published_at >= coalesce(
              (SELECT published_at FROM outbox WHERE event_id = $1), '-infinity')
          AND event_id <> ALL($2::uuid[])
        RETURNING 1
    ), forgotten AS (DELETE FROM relay_mark WHERE stream = $3)
    SELECT count(*) FROM lost
"""
_MARK_RECOVERED = """
    UPDATE outbox SET published_at = now()
    WHERE published_at IS NULL AND event_id = ANY($1::uuid[])
"""


class Pace:
    """Whether the relay is busy: from `busy_rate` events/s it polls every busy poll with
    the doorbell disarmed; below half that rate it sleeps until a NOTIFY again."""

    WINDOW = 0.1  # seconds over which the rate is measured

    def __init__(self, busy_rate: int) -> None:
        self.busy_rate = busy_rate
        self.busy = False
        self._start = time.monotonic()
        self._count = 0

    def count(self, published: int) -> None:
        self._count += published
        now = time.monotonic()
        elapsed = now - self._start
        if elapsed >= self.WINDOW:
            rate = self._count / elapsed
            self.busy = rate >= (self.busy_rate / 2 if self.busy else self.busy_rate)
            self._start, self._count = now, 0


class Relay:
    """One relay process's loop; `await run()` until `stop()` is called."""

    def __init__(self, settings: Settings, redis: Redis | None = None) -> None:
        self.settings = settings
        self.events = settings.events
        self.stream = settings.redis.events_stream
        self.fence_key = key(settings.redis, RELAY_FENCE)
        self._own_redis = redis is None
        self.redis = redis or connect_redis(
            settings.redis, socket_timeout=5, socket_connect_timeout=2
        )
        self._publish = self.redis.register_script(_PUBLISH)
        self._wake = asyncio.Event()
        self._stopping = False
        self.leading = False
        self.published = 0  # events added to the stream by this relay (for logs and tests)
        self.rings = 0  # NOTIFYs received
        self.recovered = 0  # rows found already in the stream and only marked published
        self.republished = 0  # rows published again because Redis had lost them
        self._last_added = ""  # the id of the entry this leader added last ("" unknown)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        backoff = BACKOFF_START
        outage_since: float | None = None
        try:
            while not self._stopping:
                try:
                    conn = await asyncpg.connect(
                        self.settings.database.url,
                        # A lost "published" mark only means a re-publish, which the tail
                        # check and the consumers absorb: no need to wait for the WAL flush.
                        server_settings={
                            "application_name": f"usher relay {os.getpid()}",
                            "synchronous_commit": "off",
                        },
                        timeout=5,
                    )
                except RELAY_OUTAGES as exc:
                    if outage_since is None:
                        outage_since = time.monotonic()
                        log.warning("cannot reach PostgreSQL (%r); retrying until it answers", exc)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                if outage_since is not None:
                    log.info("PostgreSQL is back after %.1f s", time.monotonic() - outage_since)
                    outage_since = None
                backoff = BACKOFF_START
                try:
                    if await self._stand(conn):
                        await self._lead(conn)
                except RELAY_OUTAGES as exc:
                    outage_since = time.monotonic()
                    log.warning("relay stepping down: %r", exc)
                    await self._sleep(BACKOFF_START)
                finally:
                    self.leading = False
                    RELAY_LEADING.set(0)
                    conn.terminate()  # ends the session, and with it the advisory lock
        finally:
            if self._own_redis:
                await self.redis.aclose()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on NOTIFY or stop()."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _stand(self, conn: asyncpg.Connection) -> bool:
        """Wait as a hot standby until this session holds the relay lock (True), or stop (False)."""
        waiting_logged = False
        while not self._stopping:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                return True
            if not waiting_logged:
                log.info("another relay leads; standing by")
                waiting_logged = True
            await asyncio.sleep(STANDBY_POLL)
        return False

    async def _lead(self, conn: asyncpg.Connection) -> None:
        def notified(*_: object) -> None:
            self.rings += 1
            self._wake.set()

        await conn.add_listener(NOTIFY_CHANNEL, notified)
        self.leading = True
        RELAY_LEADING.set(1)
        token = str(uuid7())
        log.info("relay leads (fence %s)", token)
        poll = self.events.relay_poll_ms / 1000
        batch_size = self.events.relay_batch_size
        pace = Pace(self.events.relay_busy_rate)
        rings_when_armed = self.rings
        horizon: str | None = await self._ring(conn, armed=True)
        armed = True
        settle = ACTIVE_POLL
        recover = True
        backoff = BACKOFF_START
        outage_since: float | None = None
        next_check = time.monotonic() + FENCE_CHECK
        while not self._stopping:
            self._wake.clear()
            try:
                if not recover and time.monotonic() >= next_check:
                    # A Redis that lost its data lost the fence too: look even while idle,
                    # so the entries it lost are published again without waiting for a write.
                    recover = await self.redis.get(self.fence_key) != token.encode()
                    next_check = time.monotonic() + FENCE_CHECK
                if recover:
                    self._last_added = ""  # the tail is checked by _recover itself
                    await self._recover(conn, token)
                    recover = False
                published = await self._publish_batch(conn, token)
            except RedisError as exc:
                # Unreachable, loading, out of memory, or fenced (the fence key vanished with a
                # Redis that lost its data): the rows wait in PostgreSQL either way.
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning("cannot publish (%s); outbox rows wait in PostgreSQL", exc)
                await conn.execute("SELECT 1")  # still leading? (raises if the session is gone)
                recover = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if outage_since is not None:
                log.info("Redis is back after %.1f s; draining", time.monotonic() - outage_since)
                outage_since = None
                backoff = BACKOFF_START
            pace.count(published)
            if armed and self.rings != rings_when_armed:
                armed = False  # the writer that rang disarmed the bell (025)
            if pace.busy:  # poll, with the doorbell disarmed: writers skip their NOTIFY
                if armed:
                    await self._ring(conn, armed=False)
                    armed, horizon = False, None
                if published < batch_size:
                    await self._sleep(self.events.relay_busy_poll_ms / 1000)
                continue
            if not armed:
                rings_when_armed = self.rings
                horizon = await self._ring(conn, armed=True)
                armed, settle = True, ACTIVE_POLL
                continue
            if horizon is not None:  # wait out the writers that may have skipped a NOTIFY
                if await conn.fetchval(_HORIZON_PASSED, horizon):
                    horizon = None  # and look once more before sleeping
                else:
                    await self._sleep(settle)
                    settle = min(settle * 2, poll)
                continue
            if published < batch_size:
                await self._sleep(poll)  # until a NOTIFY, or the poll

    async def _ring(self, conn: asyncpg.Connection, *, armed: bool) -> str:
        """Arm or disarm the doorbell; return the first xid not yet assigned once it is set
        (every writer that may have read the old value has a lower one)."""
        await conn.execute(_DOORBELL, armed)
        horizon: str = await conn.fetchval(_NEXT_XID)
        return horizon

    async def _recover(self, conn: asyncpg.Connection, token: str) -> None:
        """Take the fence; publish again what Redis lost; mark as published the rows a
        previous batch already added."""
        await self.redis.set(self.fence_key, token)
        count = max(TAIL_MIN, 2 * self.events.relay_batch_size)
        tail = await self.redis.xrevrange(self.stream, count=count)
        ids: list[UUID] = []
        for _, fields in tail:
            try:
                ids.append(UUID(fields[b"id"].decode()))
            except (KeyError, ValueError, UnicodeDecodeError):
                continue
        await self._find_lost(conn, ids)
        if ids:
            status = await conn.execute(_MARK_RECOVERED, ids)
            found = int(status.split()[-1])
            if found:
                log.info("%d outbox rows were already in the stream; marked published", found)
                self.recovered += found

    async def _find_lost(self, conn: asyncpg.Connection, tail: list[UUID]) -> None:
        """Is the entry of the last batch Redis acknowledged still in the stream? If not,
        Redis lost acknowledged writes: set the rows published since the newest surviving
        entry (`tail[0]`) back to unpublished, to go out again in position order."""
        mark = await conn.fetchrow(_MARK, self.stream)
        if mark is None:
            return
        found = await self.redis.xrange(self.stream, mark["stream_id"], mark["stream_id"])
        if found and found[0][1].get(b"id") == str(mark["event_id"]).encode():
            return
        again = await conn.fetchval(_REPUBLISH, tail[0] if tail else None, tail, self.stream)
        self.republished += again
        log.warning(
            "Redis lost stream entries it had acknowledged (entry %s is gone): publishing %d "
            "events again from the outbox",
            mark["stream_id"],
            again,
        )

    async def _publish_batch(self, conn: asyncpg.Connection, token: str) -> int:
        rows = await conn.fetch(_SELECT_BATCH, self.events.relay_batch_size)
        if not rows:
            return 0
        min_id = int(time.time() * 1000) - self.events.stream_retention_hours * 3_600_000
        # The stream must still end with the entry this relay added last: a Redis that lost
        # acknowledged entries (restarted empty, or a replica promoted before it had them, while
        # this relay wrote on to the old primary) answers LOST, and _recover publishes again.
        args: list[str] = [token, str(max(min_id, 0)), self._last_added]
        for row in rows:
            args += (str(row["event_id"]), row["event_type"], row["payload"])
        with contextlib.ExitStack() as spans:  # one span per event while tracing is on
            for row in rows:
                parent = tracing.carried(row["payload"])
                if parent:
                    spans.enter_context(
                        tracing.span(
                            f"publish {row['event_type']}",
                            parent,
                            **{"messaging.destination.name": self.stream},
                        )
                    )
            last = await self._publish(keys=[self.fence_key, self.stream], args=args)
        self._last_added = last.decode()
        positions = [row["position"] for row in rows]
        await self._mark_published(conn, positions, self._last_added, rows[-1]["event_id"])
        self.published += len(rows)
        count_published(row["event_type"] for row in rows)
        return len(rows)

    async def _mark_published(
        self, conn: asyncpg.Connection, positions: list[int], stream_id: str, event_id: UUID
    ) -> None:
        await conn.execute(_MARK_PUBLISHED, positions, stream_id, event_id, self.stream)
