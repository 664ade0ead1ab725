"""The one way Usher connects to Redis: straight to `USHER_REDIS_URL`, or through Redis Sentinel
when `USHER_REDIS_SENTINELS` lists sentinels, so every process follows a failover to the new
primary by itself (the clients ask the sentinels again whenever a connection fails or a server
answers that it is a read-only replica).

With sentinels, the URL still gives the password and the database number (its host is not used):
`redis://:secret@sentinel-managed/0`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from services.settings import RedisSettings

SENTINEL_TIMEOUT = 2.0  # seconds for a sentinel to answer which server is the primary


def credentials(settings: RedisSettings) -> tuple[str | None, int]:
    """The password and database number in USHER_REDIS_URL."""
    parts = urlsplit(settings.url)
    password = unquote(parts.password) if parts.password else None
    path = parts.path.lstrip("/")
    return password, int(path) if path.isdigit() else 0


def connect_redis(settings: RedisSettings, **options: Any) -> Redis:
    """A client for Usher's Redis; `options` are redis-py connection options (timeouts)."""
    if not settings.sentinels:
        client: Redis = Redis.from_url(settings.url, **options)
        return client
    password, db = credentials(settings)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(settings.sentinels),
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT, "password": password},
        password=password,
        db=db,
        **options,
    )
    master: Redis = sentinel.master_for(settings.sentinel_master)
    return master
