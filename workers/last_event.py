"""The `last-event` consumer group: the newest event of every aggregate (aggregate_last_event).

A cheap "what changed last, and when" for caches, ETags and staff screens; it also counts the
events applied per aggregate, which the fault tests use to check that every effect happens once.
"""

from __future__ import annotations

from schemas.events import Event
from workers.delivery import Delivery

_UPSERT_NEWER = """
    INSERT INTO aggregate_last_event AS l (
        aggregate_type, aggregate_id, event_id, event_type, occurred_at, stream_ms, stream_seq
    )
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET
        event_id = EXCLUDED.event_id,
        event_type = EXCLUDED.event_type,
        occurred_at = EXCLUDED.occurred_at,
        stream_ms = EXCLUDED.stream_ms,
        stream_seq = EXCLUDED.stream_seq,
        events_seen = l.events_seen + 1,
        updated_at = now()
    WHERE (l.stream_ms, l.stream_seq) < (EXCLUDED.stream_ms, EXCLUDED.stream_seq)
"""
_COUNT_OLDER = """
    UPDATE aggregate_last_event SET events_seen = events_seen + 1, updated_at = now()
    WHERE aggregate_type = $1 AND aggregate_id = $2
"""


def stream_position(stream_id: str) -> tuple[int, int]:
    """A Redis Stream id "<ms>-<seq>" as a pair that orders like the stream."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


async def record_last_event(delivery: Delivery, event: Event) -> None:
    """Keep the newest event per aggregate; an older entry delivered late (a retried delivery)
    is counted but never overwrites a newer one."""
    ms, seq = stream_position(delivery.stream_id)
    status = await delivery.conn.execute(
        _UPSERT_NEWER,
        event.aggregate,
        event.aggregate_id,
        event.id,
        event.type_name(),
        event.occurred_at,
        ms,
        seq,
    )
    if status.endswith(" 0"):
        await delivery.conn.execute(_COUNT_OLDER, event.aggregate, event.aggregate_id)
