"""What the API holds open for its lifetime: the asyncpg pool, the Redis client, and the signal
that it is shutting down."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, cast

import asyncpg
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from redis.asyncio import Redis

from services.db import create_pool
from services.metrics import POOL_IN_USE, POOL_WAITING
from services.outages import UNAVAILABLE
from services.rate_limits import RateLimits
from services.redis_client import connect_redis
from services.settings import Settings
from services.shutdown import Shutdown

log = logging.getLogger("usher.api")


async def _open_pool(url: str, settings: Settings) -> asyncpg.Pool:
    """The pool; when the server is unreachable the API starts anyway, with an empty pool that
    connects once it answers (until then /readyz and every query answer 503)."""
    try:
        return await create_pool(
            url, min_size=settings.database.pool_min, max_size=settings.database.pool_max
        )
    except UNAVAILABLE as exc:
        log.warning("PostgreSQL is unreachable (%r); starting, not ready until it is back", exc)
        return await create_pool(url, min_size=0, max_size=settings.database.pool_max)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Open the pool and the Redis client on app.state (on the serving loop) and close them;
    `app.state.shutdown.stopping` is set once the process is asked to stop."""
    settings: Settings = app.state.settings
    app.state.pool = await _open_pool(settings.database.url, settings)
    app.state.pool_queue = asyncio.Semaphore(settings.database.pool_max)
    app.state.replica_pool, app.state.replica_queue = app.state.pool, app.state.pool_queue
    if settings.database.replica_url:
        app.state.replica_pool = await _open_pool(settings.database.replica_url, settings)
        app.state.replica_queue = asyncio.Semaphore(settings.database.pool_max)
    app.state.redis = connect_redis(settings.redis)
    app.state.rate_limits = RateLimits(settings)
    app.state.shutdown = Shutdown()
    app.state.shutdown.install()
    # Everything built so far (the app, its routes, the OpenAPI document: ~100,000 objects)
    # lives as long as the process: out of the collector's sight, a full collection takes well
    # under a millisecond instead of 50-80 ms during which no request moves (docs/door.md).
    gc.freeze()
    try:
        yield
    finally:
        app.state.shutdown.restore()
        await app.state.rate_limits.aclose()
        await app.state.redis.aclose()
        if app.state.replica_pool is not app.state.pool:
            await app.state.replica_pool.close()
        await app.state.pool.close()


@asynccontextmanager
async def connection(state: State, *, replica: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, first come first served. asyncpg's pool hands a released connection
    to whoever asks next, so in a rush a request that just arrived often takes it ahead of one
    that has been waiting, which then waits again at the back: a few requests wait for seconds.
    The semaphore in front (one permit per connection; asyncio's is fair) keeps the queue.
    `replica`: from the read replica's pool (the primary's when none is configured)."""
    queue: asyncio.Semaphore = state.replica_queue if replica else state.pool_queue
    pool: asyncpg.Pool = state.replica_pool if replica else state.pool
    POOL_WAITING.inc()
    try:
        await queue.acquire()
    finally:
        POOL_WAITING.dec()
    try:
        async with pool.acquire() as conn:
            POOL_IN_USE.inc()
            try:
                yield cast(asyncpg.Connection, conn)  # the proxy forwards every call
            finally:
                POOL_IN_USE.dec()
    finally:
        queue.release()


async def provide_conn(state: State) -> AsyncIterator[asyncpg.Connection]:
    """Each request gets its own pooled connection, returned when the response is sent."""
    async with connection(state) as conn:
        yield conn


async def provide_read_conn(
    state: State, request: Request[Any, Any, Any]
) -> AsyncIterator[asyncpg.Connection]:
    """For reads that may be a moment behind: the replica's connection for anonymous callers
    (websites, patrons); staff (any request with credentials) read the primary, so what they
    just changed is what they see. docs/scaling.md says when to configure a replica."""
    replica = "authorization" not in request.headers
    async with connection(state, replica=replica) as conn:
        yield conn


READ_CONN = Provide(provide_read_conn)


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_redis(state: State) -> Redis:
    redis: Redis = state.redis
    return redis


DEPENDENCIES: dict[str, Provide] = {
    "conn": Provide(provide_conn),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "redis": Provide(provide_redis, sync_to_thread=False),
}

# Handler parameters that receive a dependency say so explicitly (Litestar 3 drops inference).
Db: TypeAlias = NamedDependency[asyncpg.Connection]
AppSettings: TypeAlias = NamedDependency[Settings]
RedisClient: TypeAlias = NamedDependency[Redis]
