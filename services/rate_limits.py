"""Rate limits kept in Redis, so they hold across every API process.

The `limits` library's moving window does the counting, atomically in one Lua script per hit;
its redis-py storage shares nothing with the app's Redis client but the server. Litestar's own
RateLimitMiddleware was not used: it reads and then writes a window under a lock local to one
process (two processes can both let the last request through), keeps one counter across every
route, cannot count by account, and sends no Retry-After.

When Redis cannot be reached (or has not answered a hit within half a second, connecting
included) a limit lets the request through and logs it: the box office keeps selling without
Redis, and the caps that guard seats and devices are kept in PostgreSQL, not here
(docs/security.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from litestar import Request
from litestar.types import BeforeRequestHookHandler
from redis.exceptions import RedisError

from services.callers import requester
from services.errors import TooManyRequests
from services.redis_client import connect_redis
from services.settings import Settings

log = logging.getLogger("usher.rate_limits")
TIMEOUT_SECONDS = 0.5  # a hit that Redis has not answered by then lets the request through
_WHAT = {
    "holds": "holds",
    "device_reservations": "device reservations",
    "sign_in_per_address": "sign-in attempts from this address",
    "sign_in_per_account": "sign-in attempts for this account",
}


def _storage_uri(url: str) -> str:
    """`limits` names its asyncio storages `async+redis://`, `async+redis+unix://`..."""
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class RateLimits:
    """The named limits of USHER_RATE_*; `hit` counts one request and refuses past the limit."""

    def __init__(self, settings: Settings) -> None:
        rates = settings.limits
        self.items: dict[str, RateLimitItem] = {
            "holds": parse(rates.holds),
            "device_reservations": parse(rates.device_reservations),
            "sign_in_per_address": parse(rates.sign_in_per_address),
            "sign_in_per_account": parse(rates.sign_in_per_account),
        }
        # the pool of Usher's own client: straight to the URL, or through Sentinel
        # No socket timeout of redis-py's: it wraps every send in `wait_for` (a task a command)
        # and every read in a timer; one timer bounds a whole hit instead (`hit`).
        self._pool = connect_redis(
            settings.redis,
            socket_timeout=None,
            socket_connect_timeout=TIMEOUT_SECONDS,
        ).connection_pool
        storage = RedisStorage(
            _storage_uri(settings.redis.url),
            implementation="redispy",
            key_prefix=f"{settings.redis.prefix}limits",
            wrap_exceptions=True,
            connection_pool=self._pool,  # type: ignore[arg-type]  # passed on to redis-py
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._logged_at = -math.inf

    async def hit(self, name: str, key: str) -> None:
        """Count one request of `key` (an address, an account) against the limit `name`; past
        it, TooManyRequests (429, with Retry-After). Lets it through if Redis is unreachable."""
        item = self.items[name]
        key = hashlib.sha256(key.encode()).hexdigest()[:32]  # no address or e-mail in Redis
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):  # connecting, sending, reading: in all
                if await self._limiter.hit(item, name, key):
                    return
                stats = await self._limiter.get_window_stats(item, name, key)
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            self._log_outage(exc)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"too many {_WHAT[name]} (at most {item}): try again in {retry_after} s",
            retry_after=retry_after,
        )

    def _log_outage(self, exc: BaseException) -> None:
        """One warning a minute while Redis is out, not one per request."""
        now = time.monotonic()
        if now - self._logged_at >= 60:
            self._logged_at = now
            log.warning("rate limits are off: Redis cannot be reached (%s)", exc)

    async def aclose(self) -> None:
        await self._pool.aclose()


def rate_limited(name: str) -> BeforeRequestHookHandler:
    """A route's `before_request` hook counting a public request against the per-address limit
    `name`; staff are exempt (the till sells to a queue from one address, and a staff token is
    accountable and revocable). Litestar runs it before the handler's dependencies: a refused
    request never takes a database connection, and one let through does not hold a connection
    while Redis answers. A hook rather than a guard: Litestar calls each guard with a copy of
    the route handler, 20 us a request on the 2-core machine of docs/box-office.md's figures.
    Litestar runs one `before_request` per route, the nearest layer's: a hook set on the app or
    a router would have to call this one on these routes."""

    async def count(request: Request[Any, Any, Any]) -> None:
        caller = await requester(request)
        if caller.staff is None:
            rate_limits: RateLimits = request.app.state.rate_limits
            await rate_limits.hit(name, caller.address)

    return count
