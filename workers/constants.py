"""Names shared by the relay, the consumers, the arq worker and `usher lag`.

Every Redis key starts with the settings' `redis.prefix` (tests isolate runs by prefix); the
events stream itself is `RedisSettings.events_stream` so that services/ can read it too.
"""

from __future__ import annotations

from services.settings import RedisSettings

NOTIFY_CHANNEL = "usher_outbox"  # pg_notify'd by the outbox trigger (001_core.sql)
RELAY_LOCK = 0x05E4_4E1A  # session advisory lock held by the one publishing relay

DEAD_LETTERS = "events:dead"  # entries no consumer can decode, or that failed too often
DEAD_LETTER_MAXLEN = 10_000
RELAY_FENCE = "relay:leader"  # the leading relay's token; a deposed relay's XADDs are refused
ARQ_QUEUE = "arq:queue"
ARQ_HEALTH = "arq:health-check"


def key(redis: RedisSettings, name: str) -> str:
    """The full Redis key for one of the names above."""
    return f"{redis.prefix}{name}"
