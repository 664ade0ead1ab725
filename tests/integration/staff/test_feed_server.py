"""The feed through a real API server and relay: a client that disconnects and comes back with
Last-Event-ID while events keep being committed gets every one of them once, in stream order;
a client that does not read holds up nobody."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import httpx
from redis.asyncio import Redis

from tests.integration.events.conftest import published, wait_until, write_events
from tests.integration.staff.conftest import Live
from tests.sse import Message, Reader, messages


async def _screenings(pool: asyncpg.Pool) -> list[UUID]:
    return [row["id"] for row in await pool.fetch("SELECT id FROM screening ORDER BY starts_at")]


async def _entries_after(redis: Redis, stream: str, cursor: str) -> list[tuple[str, dict]]:
    """The stream's entries after `cursor` (exclusive), with their decoded events."""
    rows = await redis.xrange(stream, f"({cursor}", "+")
    return [(sid.decode(), json.loads(fields[b"event"])) for sid, fields in rows]


@dataclass
class Cursor:
    """What a client keeps between connections: the id of the last message it consumed."""

    last_id: str | None = None


async def _read(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    cursor: Cursor,
    into: list[Message],
    stop: Callable[[int], bool],
    params: dict[str, str] | None = None,
    connected: asyncio.Event | None = None,
) -> Message:
    """One connection, resuming from `cursor`: collects its events into `into` until
    `stop(events on this connection)` says so, then disconnects, possibly mid-batch; returns
    the connection's `ready` message (and sets `connected` when it comes)."""
    if cursor.last_id is not None:
        headers = {**headers, "Last-Event-ID": cursor.last_id}
    ready: Message | None = None
    count = 0
    async with http.stream("GET", "/v1/staff/events", headers=headers, params=params) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in messages(response, Reader(with_cursor=True)):
            cursor.last_id = message.id
            if message.event == "ready":
                ready = message
                if connected is not None:
                    connected.set()
            elif message.event:
                into.append(message)
                count += 1
            if stop(count):
                break
    assert ready is not None
    return ready


async def _expected(
    redis: Redis, live: Live, start: str, params: dict[str, str] | None
) -> list[tuple[str, str]]:
    """(stream id, event id) of every entry after `start` that the filter lets through."""
    rows = await redis.xrange(live.stream, f"({start}", "+")
    wanted = (params or {}).get("screening")
    expected = []
    for sid, fields in rows:
        event = json.loads(fields[b"event"])
        if not wanted or event.get("screening_id") == wanted:
            expected.append((sid.decode(), event["id"]))
    return expected


async def _reconnecting_client(
    live: Live,
    http: httpx.AsyncClient,
    staff: dict[str, str],
    pool: asyncpg.Pool,
    redis: Redis,
    params: dict[str, str] | None = None,
    *,
    first_part: int = 20,
    second_part: int = 10,
) -> int:
    """While 300 events are committed from four connections, a client reads some, disconnects,
    comes back with its Last-Event-ID, reads some more, disconnects again, and comes back for
    the rest. Returns how many events it received in all."""
    screenings = await _screenings(pool)
    cursor = Cursor()
    got: list[Message] = []
    connected = asyncio.Event()
    first = asyncio.create_task(
        asyncio.wait_for(
            _read(http, staff, cursor, got, lambda _: len(got) >= first_part, params, connected),
            20,
        )
    )
    await asyncio.wait_for(connected.wait(), 20)  # `ready` carries the tail before any write
    writer = asyncio.create_task(write_events(pool, screenings, 300, writers=4, pause=0.004))
    start = (await first).id
    assert start is not None
    await asyncio.sleep(0.1)  # events go on being committed while the client is away
    second = await asyncio.wait_for(
        _read(http, staff, cursor, got, lambda n: n >= second_part, params), 20
    )
    await writer
    await wait_until(published(pool), within=30)
    expected = await _expected(redis, live, start, params)
    assert len(got) < len(expected)
    third = await asyncio.wait_for(
        _read(http, staff, cursor, got, lambda _: len(got) >= len(expected), params), 20
    )
    assert [json.loads(m.data)["resumed"] for m in (second, third)] == [True, True]
    received = [(m.id, json.loads(m.data)["id"]) for m in got]
    assert len({event_id for _, event_id in received}) == len(received), "a duplicate"
    assert received == expected, "lost or out of order"
    return len(received)


async def test_disconnect_and_reconnect_with_last_event_id_loses_and_duplicates_nothing(
    live, http, staff, demo, redis
):
    assert await _reconnecting_client(live, http, staff, demo, redis) == 300


async def test_a_filtered_feed_resumes_past_the_events_it_skipped(
    live, http, staff, demo, redis, small
):
    received = await _reconnecting_client(
        live, http, staff, demo, redis, {"screening": str(small)}, first_part=4, second_part=2
    )
    assert 6 < received < 300


async def test_a_bad_last_event_id_is_a_problem_naming_the_header(http, staff):
    for value in ("yesterday", "99999999999999999999-0"):
        answer = await http.get("/v1/staff/events", headers={**staff, "Last-Event-ID": value})
        assert answer.status_code in {400, 422}, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "Last-Event-ID"


def _stalled_client(live: Live, staff: dict[str, str]) -> socket.socket:
    """A client that asks for the feed and then reads nothing, with a tiny receive window."""
    host, port = live.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((host, int(port)))
    request = (
        f"GET /v1/staff/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {staff['Authorization']}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock


async def test_a_client_that_reads_nothing_holds_up_nobody(live, http, staff, demo):
    stalled = _stalled_client(live, staff)
    try:
        got: list[Message] = []
        connected = asyncio.Event()
        reading = asyncio.create_task(
            _read(http, staff, Cursor(), got, lambda n: n >= 800, connected=connected)
        )
        await asyncio.wait_for(connected.wait(), 20)  # reading from the tail before any write
        started = time.monotonic()
        await write_events(demo, await _screenings(demo), 800, writers=4)
        await asyncio.wait_for(reading, 30)
        assert len(got) == 800
        assert time.monotonic() - started < 30
        # Nor did the stalled client lose anything: it reads its whole backlog when it wakes (with
        # a normal receive window: a 2 KiB one drains at the pace of delayed acknowledgements).
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        assert await _drain(stalled, expect=800) == 800
    finally:
        stalled.close()


async def _drain(sock: socket.socket, expect: int) -> int:
    """Read the stalled client's socket until `expect` events arrived (or 30 s pass). Each HTTP
    chunk holds whole SSE messages, so counting them in the raw bytes is exact."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    raw = b""
    deadline = time.monotonic() + 30
    marker = b"event: screening.updated\n"
    while raw.count(marker) < expect and time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 2)
        except TimeoutError:
            continue
        if not data:
            break
        raw += data
    return raw.count(marker)
