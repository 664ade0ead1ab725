"""Whether a staff account may still act: a signed token outlives a deactivated (or deleted)
account, so each request's account is looked up, but at most once per `seconds` per account and
API process. Deactivation thus takes effect within `seconds` (USHER_STAFF_STATUS_SECONDS, 30 by
default, at most 60) without a database read on every request (docs/security.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast
from uuid import UUID

import asyncpg

from services.staff import store

MAX_ENTRIES = 10_000  # accounts remembered per process; beyond it the cache starts again


class StaffStatus:
    """A per-process cache of `staff.active` by account id (a missing account: not active)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._seen: dict[UUID, tuple[bool, float]] = {}

    async def active(self, pool: asyncpg.Pool, staff_id: UUID) -> bool:
        now = self.clock()
        seen = self._seen.get(staff_id)
        if seen is not None and now - seen[1] < self.seconds:
            return seen[0]
        async with pool.acquire() as proxy:
            active = await store.account_active(cast(asyncpg.Connection, proxy), staff_id)
        if len(self._seen) >= MAX_ENTRIES:
            self._seen.clear()
        self._seen[staff_id] = (active, now)
        return active
