"""`usher replay --since`: the retained events from a time, or from an event on, are marked
unpublished so that the relay publishes them again; nothing before them is."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg

from tests.integration.events.conftest import write_events
from workers.replay import replay


async def test_replay_marks_unpublished_from_an_event_or_a_time(
    db: asyncpg.Pool, screenings: list[UUID]
) -> None:
    await write_events(db, screenings, 10, writers=1)
    await db.execute("UPDATE outbox SET published_at = now()")
    rows = await db.fetch("SELECT event_id, recorded_at FROM outbox ORDER BY position")
    async with db.acquire() as conn:
        assert await replay(conn, rows[6]["event_id"]) == 4  # the 7th event and those after
        unpublished = await conn.fetch(
            "SELECT event_id FROM outbox WHERE published_at IS NULL ORDER BY position"
        )
        assert [r["event_id"] for r in unpublished] == [r["event_id"] for r in rows[6:]]
        await conn.execute("UPDATE outbox SET published_at = now()")
        later = rows[-1]["recorded_at"] + timedelta(seconds=1)
        assert await replay(conn, later) == 0
        assert await replay(conn, rows[0]["recorded_at"]) == 10
