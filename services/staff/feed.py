"""The staff live feed: the events Redis Stream as Server-Sent Events, one reader per connection.

Each connection reads the stream itself with XREAD from its own cursor, `BATCH` entries at a
time, and waits for its client to take a batch before it reads the next (the ASGI server's
flow control suspends the send). So a slow client holds at most one batch in this process and
falls behind on its own: it never delays another client, nor the relay, which only ever
appends. Entries stay in the stream for its retention (USHER_STREAM_RETENTION_HOURS), and so
does the client's place in it.

Every event is sent with its stream id as the SSE `id`: a client reconnecting with that id as
`Last-Event-ID` gets every later event once, in stream order. Entries the client's filter skips
still move its cursor (an `id:` line with no data), so a resume never re-reads them. A client
resuming from an id whose successors were trimmed gets a `resync` event first: reload the read
models. The first message is `ready`, carrying the cursor the feed starts from: a client that
loads its read models after `ready` misses nothing in between.

A connection ends by itself after `LIFETIME_SECONDS` (clients reconnect with their
Last-Event-ID and lose nothing), and at once when the process is asked to stop (`stopping`,
services/shutdown.py), so that an open feed never holds up a deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.staff import rules

KEEPALIVE_SECONDS = 15.0  # a comment line this often when nothing happens
BATCH = 100  # entries read (and buffered) per XREAD
LIFETIME_SECONDS = 300.0
RETRY_MS = 1000  # how soon an EventSource reconnects


async def _stream_state(redis: Redis, stream: str) -> dict[str, object] | None:
    try:
        info: dict[str, object] = await redis.xinfo_stream(stream)
    except ResponseError:  # no such key: nothing was ever added (or Redis lost it)
        return None
    return info


def _entry_id(value: object) -> rules.StreamId | None:
    if value is None:
        return None
    if isinstance(value, tuple | list):  # first-entry / last-entry are (id, fields)
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode()
    return rules.parse_stream_id(str(value))


async def starting_point(
    redis: Redis, stream: str, after: rules.StreamId | None
) -> tuple[rules.StreamId, bool]:
    """Where a feed starts reading (exclusive), and whether the client must resync because
    entries after its `after` were trimmed. A new client starts at the stream's tail."""
    info = await _stream_state(redis, stream)
    last = _entry_id(info.get("last-generated-id")) if info else None
    if after is None:
        return last or rules.ORIGIN, False
    if info is None:
        return after, False
    added = info.get("entries-added")
    length = info.get("length")
    position = rules.format_stream_id(after)
    missed = rules.missed_entries(
        after,
        after_present=bool(await redis.xrange(stream, position, position, count=1)),
        last_generated=last,
        first=_entry_id(info.get("first-entry")),
        length=int(length) if isinstance(length, int) else 0,
        entries_added=added if isinstance(added, int) else None,
    )
    return after, missed


_STOPPED: Any = object()


async def _unless(stopping: asyncio.Event | None, reading: Awaitable[Any]) -> Any:
    """What `reading` gives, or _STOPPED (and the read is cancelled) once `stopping` is set."""
    if stopping is None:
        return await reading
    read = asyncio.ensure_future(reading)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((read, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not read.done():
            read.cancel()  # redis-py drops the connection of a read cut short
            with contextlib.suppress(asyncio.CancelledError):
                await read
    return read.result() if not read.cancelled() else _STOPPED


async def follow(
    redis: Redis,
    stream: str,
    feed: rules.FeedFilter,
    after: rules.StreamId | None,
    *,
    keepalive: float = KEEPALIVE_SECONDS,
    lifetime: float = LIFETIME_SECONDS,
    batch: int = BATCH,
    stopping: asyncio.Event | None = None,
) -> AsyncIterator[bytes]:
    """The feed's bytes: `ready`, maybe `resync`, then events as they are added to the stream,
    with a keep-alive comment after `keepalive` seconds of silence, for `lifetime` seconds or
    until `stopping` is set."""
    cursor, missed = await starting_point(redis, stream, after)
    position = rules.format_stream_id(cursor)
    ready = msgspec.json.encode({"cursor": position, "resumed": after is not None}).decode()
    yield rules.sse_retry(RETRY_MS) + rules.sse_event(position, "ready", ready)
    if missed:
        reason = {"reason": "events after your Last-Event-ID were trimmed; reload"}
        yield rules.sse_event(position, "resync", msgspec.json.encode(reason).decode())
    deadline = time.monotonic() + lifetime
    while (left := deadline - time.monotonic()) > 0 and not (stopping and stopping.is_set()):
        block = max(1, int(min(keepalive, left) * 1000))
        read = await _unless(stopping, redis.xread({stream: position}, count=batch, block=block))
        if read is _STOPPED:
            break
        if not read:
            yield rules.sse_comment("keep-alive")
            continue
        chunks: list[bytes] = []
        sent = True
        for raw_id, fields in read[0][1]:
            position = raw_id.decode()
            raw = fields.get(b"event", b"")
            head = rules.decode_feed_head(raw)
            sent = head is not None and feed.wants(head)
            if sent:
                assert head is not None
                chunks.append(rules.sse_event(position, head.type, raw.decode()))
        if not sent:
            chunks.append(rules.sse_cursor(position))
        yield b"".join(chunks)
    if stopping and stopping.is_set():
        yield rules.sse_comment("the server is stopping: reconnect with Last-Event-ID")
    else:
        yield rules.sse_comment("reconnect with Last-Event-ID")
