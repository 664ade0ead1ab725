"""record_event(conn, event): the only way an event is written.

The row is inserted in the caller's transaction, so the event exists if and only if the change it
describes was committed; workers/relay.py moves it to Redis afterwards.
"""

from __future__ import annotations

import asyncpg

from schemas.events import Event, to_wire
from services import tracing

_INSERT = """
    INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, venue_id, payload)
    VALUES ($1, $2, $3, $4, $5, $6)
"""


def event_row(event: Event) -> tuple[object, ...]:
    """The outbox row of `event` (without its position, txid and times): event_id, event_type,
    aggregate_type, aggregate_id, venue_id, payload."""
    payload = to_wire(event)
    parent = tracing.traceparent()
    if parent:
        payload["traceparent"] = parent  # the envelope's (schemas/event_base.py EventHead)
    return (
        event.id,
        event.type_name(),
        event.aggregate,
        event.aggregate_id,
        event.venue_id,
        payload,
    )


async def record_event(conn: asyncpg.Connection, event: Event) -> None:
    """Append `event` to the outbox inside the current transaction."""
    await conn.execute(_INSERT, *event_row(event))


async def record_events(conn: asyncpg.Connection, events: list[Event]) -> None:
    """Append several events in list order, in one round trip."""
    if events:
        await conn.executemany(_INSERT, [event_row(event) for event in events])
