"""`usher replay --since`: publish again every retained event recorded at or after a time, or
from an event on. The relay (workers/relay.py) publishes the rows this marks unpublished, in
order; consumers drop what they already applied, by event id."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

_SINCE_TIME = """
    UPDATE outbox SET published_at = NULL
    WHERE published_at IS NOT NULL AND recorded_at >= $1
"""
_SINCE_EVENT = """
    UPDATE outbox SET published_at = NULL
    WHERE published_at IS NOT NULL
      AND position >= (SELECT position FROM outbox WHERE event_id = $1)
"""


async def replay(conn: asyncpg.Connection, since: datetime | UUID) -> int:
    """Mark every retained outbox row from `since` (a time, or an event id and those after it)
    unpublished, so that the relay publishes them again; returns how many."""
    if isinstance(since, UUID):
        status = await conn.execute(_SINCE_EVENT, since)
    else:
        status = await conn.execute(_SINCE_TIME, since)
    return int(status.split()[-1])
