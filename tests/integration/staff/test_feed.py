"""The feed's reader against a real Redis stream of its own: where it starts, what it sends,
what it filters out, keep-alives, resync after trimming, and its end."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from schemas.events import Event, ScreeningUpdated, encode_event
from services.settings import get_settings
from services.staff import feed, rules
from tests.sse import Message, Reader

A = UUID("01900000-0000-7000-8000-00000000000a")
B = UUID("01900000-0000-7000-8000-00000000000b")


@pytest.fixture
async def stream(redis: Redis) -> AsyncIterator[str]:
    """A stream key of this test's own, inside the run's prefix (removed at the end)."""
    key = f"{get_settings().redis.prefix}feed-test-{secrets.token_hex(3)}:events"
    yield key
    await redis.delete(key)


@pytest.fixture
async def reader() -> AsyncIterator[Redis]:
    """A client of the feed's own, named so that CLIENT LIST shows when it blocks in XREAD."""
    client = Redis.from_url(get_settings().redis.url, client_name=f"feed-{secrets.token_hex(4)}")
    yield client
    await client.aclose()


async def _blocked_in_xread(redis: Redis, reader: Redis) -> None:
    """Until the reader's connection waits in a blocking XREAD (flag `b` in CLIENT LIST)."""
    name = reader.get_connection_kwargs()["client_name"]
    deadline = time.monotonic() + 10
    while not any(
        c.get("name") == name and c.get("cmd") == "xread" and "b" in c.get("flags", "")
        for c in await redis.client_list()
    ):
        assert time.monotonic() < deadline, "the feed never blocked in XREAD"
        await asyncio.sleep(0.01)


def _event(screening: UUID) -> Event:
    return ScreeningUpdated(id=uuid4(), occurred_at=datetime.now(UTC), screening_id=screening)


async def _add(redis: Redis, stream: str, event: Event) -> str:
    """XADD as the relay does: fields id, type, event."""
    entry = await redis.xadd(
        stream, {"id": str(event.id), "type": event.type_name(), "event": encode_event(event)}
    )
    return str(entry.decode())


class Client:
    """Reads a feed generator as a client would, message by message."""

    def __init__(self, source: AsyncIterator[bytes], *, with_cursor: bool = False) -> None:
        self.source = source
        self.reader = Reader(with_cursor=with_cursor)
        self.pending: list[Message] = []
        self.raw: list[bytes] = []

    async def next(self, within: float = 5.0) -> Message:
        while not self.pending:
            chunk = await asyncio.wait_for(anext(self.source), within)
            self.raw.append(chunk)
            self.pending.extend(self.reader.feed(chunk.decode()))
        return self.pending.pop(0)

    async def close(self) -> None:
        await self.source.aclose()  # type: ignore[attr-defined]


async def test_a_new_client_starts_at_the_tail_and_gets_what_follows(redis, stream):
    for _ in range(3):
        tail = await _add(redis, stream, _event(A))
    client = Client(feed.follow(redis, stream, rules.FeedFilter(), None))
    ready = await client.next()
    assert (ready.event, ready.id) == ("ready", tail)
    assert ready.data == f'{{"cursor":"{tail}","resumed":false}}'
    added = [await _add(redis, stream, _event(A)) for _ in range(2)]
    got = [await client.next(), await client.next()]
    assert [m.id for m in got] == added
    assert {m.event for m in got} == {"screening.updated"}
    await client.close()


async def test_an_empty_stream_starts_at_the_origin(redis, stream):
    client = Client(feed.follow(redis, stream, rules.FeedFilter(), None))
    assert (await client.next()).id == "0-0"
    first = await _add(redis, stream, _event(A))
    assert (await client.next()).id == first
    await client.close()


async def test_resuming_sends_exactly_what_came_after(redis, stream):
    ids = [await _add(redis, stream, _event(A)) for _ in range(6)]
    client = Client(feed.follow(redis, stream, rules.FeedFilter(), rules.parse_stream_id(ids[2])))
    ready = await client.next()
    assert ready.id == ids[2]
    assert '"resumed":true' in ready.data
    assert [(await client.next()).id for _ in range(3)] == ids[3:]
    await client.close()


async def test_filtered_out_entries_still_move_the_cursor(redis, stream):
    client = Client(
        feed.follow(redis, stream, rules.FeedFilter(screening_id=A), None), with_cursor=True
    )
    await client.next()
    await _add(redis, stream, _event(B))
    wanted = await _add(redis, stream, _event(A))
    last = await _add(redis, stream, _event(B))
    await redis.xadd(stream, {"id": "x", "type": "garbage", "event": b"not json"})
    seen = []
    while True:
        message = await client.next()
        seen.append((message.id, message.event))
        if message.event == "" and client.reader.last_id != last:
            break
    assert seen[0] == (wanted, "screening.updated")
    assert client.reader.last_id not in {None, wanted, last}  # past the garbage entry too
    await client.close()


async def test_silence_is_broken_by_keep_alive_comments(redis, stream):
    source = feed.follow(redis, stream, rules.FeedFilter(), None, keepalive=0.05)
    first = await anext(source)
    assert b"event: ready" in first
    assert first.startswith(b"retry: 1000\n\n")
    assert await asyncio.wait_for(anext(source), 2) == b": keep-alive\n\n"
    await source.aclose()


async def test_a_client_whose_next_events_were_trimmed_is_told_to_resync(redis, stream):
    ids = [await _add(redis, stream, _event(A)) for _ in range(5)]
    await redis.xtrim(stream, maxlen=2, approximate=False)
    client = Client(feed.follow(redis, stream, rules.FeedFilter(), rules.parse_stream_id(ids[0])))
    assert (await client.next()).event == "ready"
    assert (await client.next()).event == "resync"
    assert [(await client.next()).id for _ in range(2)] == ids[3:]
    await client.close()
    # One whose own event is still there needs no resync.
    near = Client(feed.follow(redis, stream, rules.FeedFilter(), rules.parse_stream_id(ids[3])))
    assert (await near.next()).event == "ready"
    assert (await near.next()).id == ids[4]
    await near.close()


async def test_the_feed_ends_after_its_lifetime(redis, stream):
    source = feed.follow(redis, stream, rules.FeedFilter(), None, keepalive=0.05, lifetime=0.3)
    chunks = [chunk async for chunk in source]
    assert chunks[-1] == b": reconnect with Last-Event-ID\n\n"


async def test_the_feed_ends_at_once_when_the_server_is_stopping(redis, reader, stream):
    stopping = asyncio.Event()
    source = feed.follow(reader, stream, rules.FeedFilter(), None, stopping=stopping)
    assert b"event: ready" in await anext(source)
    waiting = asyncio.ensure_future(anext(source))  # blocked in XREAD for up to 15 s
    await _blocked_in_xread(redis, reader)
    started = time.monotonic()
    stopping.set()
    last = await asyncio.wait_for(waiting, 2)
    assert last == b": the server is stopping: reconnect with Last-Event-ID\n\n"
    with pytest.raises(StopAsyncIteration):
        await anext(source)
    assert time.monotonic() - started < 0.5
    # The Redis client is still good after the read it cut short.
    assert await reader.ping()


async def test_events_read_as_the_server_stops_are_still_sent(redis, reader, stream):
    stopping = asyncio.Event()
    source = feed.follow(reader, stream, rules.FeedFilter(), None, stopping=stopping)
    await anext(source)
    waiting = asyncio.ensure_future(anext(source))
    await _blocked_in_xread(redis, reader)
    added = await _add(redis, stream, _event(A))
    chunk = await asyncio.wait_for(waiting, 2)
    stopping.set()
    assert f"id: {added}".encode() in chunk
    assert [c async for c in source] == [
        b": the server is stopping: reconnect with Last-Event-ID\n\n"
    ]
