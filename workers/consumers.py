"""Consumer groups on the events stream: read, decode, run the handler once, acknowledge.

One `GroupRunner` per registered `Consumer` (workers/registry.py). For each entry it decodes the
envelope first (`EventHead`): an entry it cannot decode is dead-lettered and acknowledged; a type
this code does not know is logged and acknowledged; a type the group does not want is
acknowledged. Otherwise, in one PostgreSQL transaction per batch read (a savepoint per entry), it
records (group, event id) in `processed_event` and runs the handler only if that row is new, so a
re-published or re-delivered event has its effect once. Entries are acknowledged (XACK) after the
batch's transaction commits.

A handler that raises leaves its entry pending; entries idle on any consumer (a failed handler,
a consumer that died before XACK) for `claim_idle_ms` are taken over with XAUTOCLAIM, and an entry
delivered `max_deliveries` times is dead-lettered. A lost PostgreSQL or Redis connection is not
the handler's fault: the runner backs off and re-reads its own pending entries, without counting
a failed delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import asyncpg
import msgspec
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from schemas.events import EVENT_TYPES, Event, decode_event, decode_head
from services import tracing
from services.logs import event_id
from services.outages import OUTAGES
from services.settings import Settings
from workers.constants import DEAD_LETTER_MAXLEN, DEAD_LETTERS, key
from workers.delivery import Consumer, Delivery
from workers.health import HEARTBEAT_SECONDS, forget, live_consumers, record_beat
from workers.metrics import EVENTS_HANDLED

log = logging.getLogger("usher.consumers")

BACKOFF_START = 0.05
BACKOFF_MAX = 2.0
FORGET_CONSUMERS_AFTER_MS = 24 * 3_600_000  # idle consumers with nothing pending are removed


_FIRST_DELIVERY = """
    INSERT INTO processed_event (consumer, event_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING
    RETURNING true
"""

Entry = tuple[bytes | None, dict[bytes, bytes] | None]


class GroupRunner:
    """Runs one consumer group's loop in this process, as consumer `name`."""

    def __init__(
        self,
        consumer: Consumer,
        *,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: Redis,
        name: str,
        arq: ArqRedis | None = None,
    ) -> None:
        self.consumer = consumer
        self.group = consumer.group
        self.settings = settings
        self.events = settings.events
        self.pool = pool
        self.redis = redis
        self.name = name
        self.arq = arq
        self.stream = settings.redis.events_stream
        self.dead_letters = key(settings.redis, DEAD_LETTERS)
        self.claim_every = max(self.events.claim_idle_ms / 2000, 0.1)
        self._stopping = False
        self._unknown_types: set[str] = set()
        # what happened, for logs and tests
        self.applied = 0
        self.duplicates = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.failures = 0

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        backoff = BACKOFF_START
        pending_from: str | None = "0"  # first our own pending entries (a restart, an outage)
        next_claim = 0.0
        start: str | None = self.consumer.start
        outage_since: float | None = None
        next_beat = 0.0
        while not self._stopping:
            try:
                if start is not None:
                    await self._ensure_group(start)
                    start = None
                if time.monotonic() >= next_beat:  # this group's loop is turning
                    await record_beat(self.redis, self.settings.redis, self.group, self.name)
                    next_beat = time.monotonic() + HEARTBEAT_SECONDS
                if time.monotonic() >= next_claim:
                    await self._claim()
                    next_claim = time.monotonic() + self.claim_every
                if pending_from is not None:
                    entries = await self._read(pending_from, block=None)
                    pending_from = entries[-1][0].decode() if entries and entries[-1][0] else None
                else:
                    wait_ms = int(max(next_claim - time.monotonic(), 0.001) * 1000)
                    entries = await self._read(
                        ">", block=min(self.events.consumer_block_ms, wait_ms)
                    )
                await self._handle(entries)
                if outage_since is not None:
                    took = time.monotonic() - outage_since
                    log.info("%s: resumed after %.1f s", self.group, took)
                    outage_since = None
                backoff = BACKOFF_START
            except OUTAGES as exc:
                if outage_since is None:  # said once per outage, not once per retry
                    outage_since = time.monotonic()
                    log.warning("%s: %r; backing off until it answers", self.group, exc)
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    # Redis lost the stream (restarted empty, a failover to a lagging replica):
                    # the relay re-publishes from the outbox, so read the new stream from its
                    # start; what was already applied is dropped by its event id.
                    start = "0"
                pending_from = "0"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        await forget(self.redis, self.settings.redis, self.group, self.name)

    async def _ensure_group(self, start: str) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, start, mkstream=True)
            log.info("created consumer group %s at %s", self.group, start)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read(self, start: str, block: int | None) -> list[Entry]:
        reply = await self.redis.xreadgroup(
            self.group,
            self.name,
            {self.stream: start},
            count=self.events.consumer_batch_size,
            block=max(block, 1) if block is not None else None,
        )
        if not reply:
            return []
        entries: list[Entry] = reply[0][1]
        return entries

    async def _handle(self, entries: list[Entry]) -> None:
        """Process entries in stream order, all in one transaction (one commit per batch, each
        entry in its own savepoint), then acknowledge the ones that are done, all at once."""
        done: list[bytes] = []
        todo: list[tuple[bytes, str, Event]] = []
        traces: dict[str, str | None] = {}  # the trace each event continues (tracing on)
        for entry_id, fields in entries:
            if entry_id is None:  # deleted by trimming while pending (Redis 6.2 shows a nil)
                continue
            stream_id = entry_id.decode()
            event = await self._decode(stream_id, fields or {})
            if event is None:
                done.append(entry_id)
            else:
                todo.append((entry_id, stream_id, event))
                traces[stream_id] = tracing.carried((fields or {}).get(b"event"))
        if todo:
            applied = duplicates = 0
            async with self.pool.acquire() as proxy, proxy.transaction():
                conn = cast(asyncpg.Connection, proxy)
                for entry_id, stream_id, event in todo:
                    with tracing.span(
                        f"consume {event.type_name()}",
                        traces.get(stream_id),
                        **{"usher.group": self.group, "usher.event_id": str(event.id)},
                    ):
                        outcome = await self._apply(conn, stream_id, event)
                    if outcome is not None:
                        done.append(entry_id)
                        applied += outcome
                        duplicates += not outcome
            self.applied += applied
            EVENTS_HANDLED.labels(group=self.group).inc(applied)
            self.duplicates += duplicates
        if done:
            await self._acknowledge(done)

    async def _acknowledge(self, entry_ids: list[bytes]) -> None:
        await self.redis.xack(self.stream, self.group, *entry_ids)

    async def _decode(self, stream_id: str, fields: dict[bytes, bytes]) -> Event | None:
        """The event this group should apply, or None when the entry is done with already
        (trimmed, dead-lettered, of a type unknown here or not wanted by this group)."""
        if not fields:
            return None  # trimmed away while pending: nothing left to do
        raw = fields.get(b"event")
        if raw is None:
            await self._dead_letter(stream_id, fields, "the entry has no `event` field")
            return None
        try:
            head = decode_head(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(stream_id, fields, f"malformed envelope: {exc}")
            return None
        if head.type not in EVENT_TYPES:
            self._skip_unknown(head.type, stream_id)
            return None
        if not self.consumer.wants(head.type):
            self.skipped += 1
            return None
        try:
            event = decode_event(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(stream_id, fields, f"malformed {head.type}: {exc}")
            return None
        return event

    async def _apply(self, conn: asyncpg.Connection, stream_id: str, event: Event) -> bool | None:
        """Run the handler once per (group, event): True applied, False a duplicate dropped,
        None failed (left pending, to be retried)."""
        token = event_id.set(str(event.id))
        try:
            return await self._apply_once(conn, stream_id, event)
        finally:
            event_id.reset(token)

    async def _apply_once(
        self, conn: asyncpg.Connection, stream_id: str, event: Event
    ) -> bool | None:
        try:
            async with conn.transaction():  # a savepoint: a failure undoes this entry only
                first = await conn.fetchval(_FIRST_DELIVERY, self.group, event.id)
                if first:
                    delivery = Delivery(
                        conn, self.group, event.id, stream_id, self.settings, self.arq
                    )
                    await self.consumer.handle(delivery, event)
        except OUTAGES:
            raise
        except Exception:
            self.failures += 1
            log.exception(
                "%s: handler failed on %s (%s %s)",
                self.group,
                stream_id,
                event.type_name(),
                event.id,
            )
            return None
        if not first:
            log.debug("%s: dropped duplicate %s (%s)", self.group, event.id, stream_id)
        return bool(first)

    def _skip_unknown(self, type_name: str, stream_id: str) -> None:
        self.skipped += 1
        if type_name not in self._unknown_types:
            self._unknown_types.add(type_name)
            log.warning(
                "%s: skipping event type %r unknown to this version (first at %s)",
                self.group,
                type_name,
                stream_id,
            )

    async def _dead_letter(self, stream_id: str, fields: dict[bytes, bytes], reason: str) -> None:
        log.warning("%s: dead-lettering %s: %s", self.group, stream_id, reason)
        entry: dict[Any, Any] = dict(fields)
        entry.update({"group": self.group, "entry": stream_id, "reason": reason[:1000]})
        await self.redis.xadd(self.dead_letters, entry, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        self.dead_lettered += 1

    async def _claim(self) -> None:
        """Dead-letter entries delivered too often, then take over the other idle ones."""
        idle = self.events.claim_idle_ms
        stale = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=100, idle=idle
        )
        for item in stale:
            if item["times_delivered"] < self.events.max_deliveries:
                continue
            entry_id = item["message_id"]
            found = await self.redis.xrange(self.stream, entry_id, entry_id)
            fields = found[0][1] if found else {}
            reason = f"not handled after {item['times_delivered']} deliveries"
            await self._dead_letter(entry_id.decode(), fields, reason)
            await self._acknowledge([entry_id])
        start: bytes | str = "0-0"
        while not self._stopping:
            reply = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.name,
                min_idle_time=idle,
                start_id=start,
                count=self.events.consumer_batch_size,
            )
            start, entries = reply[0], reply[1]
            if entries:
                log.info("%s: took over %d idle entries", self.group, len(entries))
                await self._handle(entries)
            if start in (b"0-0", "0-0"):
                break
        await self._forget_idle_consumers()

    async def _forget_idle_consumers(self) -> None:
        """Remove from the group the consumers whose worker is gone (no heartbeat) once their
        pending entries were taken over, and any consumer idle for a day with nothing pending;
        `usher lag` then counts only the living."""
        live = await live_consumers(self.redis, self.settings.redis, self.group)
        for info in await self.redis.xinfo_consumers(self.stream, self.group):
            name = info["name"]
            name = name.decode() if isinstance(name, bytes) else name
            if name == self.name or info["pending"] != 0:
                continue
            dead = name not in live and info["idle"] > self.events.claim_idle_ms
            if dead or info["idle"] > FORGET_CONSUMERS_AFTER_MS:
                await self.redis.xgroup_delconsumer(self.stream, self.group, name)
                log.info("%s: removed consumer %s (its worker is gone)", self.group, name)
