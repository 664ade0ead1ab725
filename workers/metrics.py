"""Prometheus metrics of the relay and the workers, served on `USHER_METRICS_PORT` (0: off).

- `usher_events_published_total{type}`: events the relay put on the stream. Only the leading
  relay publishes, and each outbox row once, so these are the business counts: holds made
  (`hold.seats_held`), bookings (`booking.confirmed`), cancellations, device reservations.
- `usher_events_handled_total{group}`: events a consumer group handled (committed).
- `usher_emails_queued_total` and `usher_emails_total{outcome}`: emails written, and each
  sending attempt's end (`sent`, `retry`, `permanent`, `exhausted`, ...).
- The backbone, measured every few seconds by each relay from PostgreSQL and Redis (the same
  figures as `usher lag`): `usher_outbox_waiting`, `usher_outbox_oldest_seconds`,
  `usher_stream_undelivered{group}`, `usher_stream_pending{group}`,
  `usher_stream_pending_oldest_seconds{group}`, `usher_stream_consumers{group}`,
  `usher_dead_letters`, `usher_relay_leading`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Iterable

import asyncpg
from prometheus_client import Counter, Gauge, start_http_server
from redis.asyncio import Redis

from services.settings import Settings

log = logging.getLogger("usher.metrics")

EVENTS_PUBLISHED = Counter(
    "usher_events_published", "Events the relay added to the stream, by type", ["type"]
)
EVENTS_HANDLED = Counter(
    "usher_events_handled", "Events a consumer group handled and committed", ["group"]
)
EMAILS_QUEUED = Counter("usher_emails_queued", "Emails written, to be sent")
EMAILS = Counter("usher_emails", "Email sending attempts, by how they ended", ["outcome"])

OUTBOX_WAITING = Gauge("usher_outbox_waiting", "Outbox rows not yet on the stream")
OUTBOX_OLDEST = Gauge("usher_outbox_oldest_seconds", "Age of the oldest unpublished outbox row")
UNDELIVERED = Gauge(
    "usher_stream_undelivered", "Stream entries not yet delivered to the group", ["group"]
)
PENDING = Gauge("usher_stream_pending", "Entries delivered but not acknowledged", ["group"])
PENDING_OLDEST = Gauge(
    "usher_stream_pending_oldest_seconds", "Age of the oldest unacknowledged entry", ["group"]
)
CONSUMERS = Gauge(
    "usher_stream_consumers", "Live consumers of the group (a fresh heartbeat)", ["group"]
)
DEAD_LETTERS = Gauge("usher_dead_letters", "Entries in the dead-letter stream")
RELAY_LEADING = Gauge("usher_relay_leading", "1 while this relay leads, 0 while it stands by")

MEASURE_EVERY = 5.0  # seconds between two measurements of the backbone


def serve(settings: Settings) -> None:
    """Start the metrics HTTP server in a thread when a port is set."""
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
        log.info("metrics on port %d", settings.metrics_port)


def count_published(event_types: Iterable[str]) -> None:
    for event_type, n in Tally(event_types).items():
        EVENTS_PUBLISHED.labels(type=event_type).inc(n)


async def measure_backbone(settings: Settings, redis: Redis) -> None:
    """Every few seconds, the figures of `usher lag` as gauges; a failed measurement keeps the
    last values and is retried (PostgreSQL or Redis may be away)."""
    from workers.lag import measure

    while True:
        try:
            conn = await asyncpg.connect(settings.database.url)
            try:
                report = await measure(settings, conn, redis)
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("cannot measure the backbone: %s", exc)
        except Exception as exc:  # redis errors and the like: a gauge is not worth dying for
            log.debug("cannot measure the backbone: %r", exc)
        else:
            OUTBOX_WAITING.set(report.outbox_waiting)
            OUTBOX_OLDEST.set(report.outbox_oldest_seconds or 0.0)
            DEAD_LETTERS.set(report.dead_letters)
            for group in report.groups:
                UNDELIVERED.labels(group=group.group).set(group.undelivered)
                PENDING.labels(group=group.group).set(group.pending)
                PENDING_OLDEST.labels(group=group.group).set(group.pending_age_seconds or 0.0)
                CONSUMERS.labels(group=group.group).set(group.live_consumers)
        await asyncio.sleep(MEASURE_EVERY)
