"""The API's connections are handed out first come, first served (services.state.connection):
a request that arrives just as a connection is released does not take it from one that was
already waiting. Real PostgreSQL, a pool of one connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
import pytest
from litestar.datastructures import State

from services.db import create_pool
from services.state import connection

Acquire = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


async def _order(acquire: Acquire) -> list[str]:
    """A holds the only connection, B waits for it, and C asks the moment A lets go. (With
    asyncpg's pool.acquire() alone, C got it first in 20 runs of 20.)"""
    order: list[str] = []
    a_has_it, a_lets_go = asyncio.Event(), asyncio.Event()

    async def a() -> None:
        async with acquire():
            a_has_it.set()
            await a_lets_go.wait()

    async def user(name: str) -> None:
        async with acquire() as conn:
            order.append(name)
            await conn.fetchval("SELECT 1")

    first = asyncio.create_task(a())
    await a_has_it.wait()
    waiting = asyncio.create_task(user("B"))
    for _ in range(5):
        await asyncio.sleep(0)  # B is queued
    a_lets_go.set()
    await asyncio.sleep(0)  # A's release runs ...
    late = asyncio.create_task(user("C"))  # ... and C arrives at that moment
    await asyncio.gather(first, waiting, late)
    return order


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[State]:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    yield State({"pool": pool, "pool_queue": asyncio.Semaphore(1)})
    await pool.close()


async def test_a_waiting_request_gets_the_connection_before_a_newcomer(
    one_connection: State,
) -> None:
    for _ in range(20):
        assert await _order(lambda: connection(one_connection)) == ["B", "C"]
