"""One private Usher for the fault tests of a module (tests/integration/faults/stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.integration.faults.stack import Load, Stack, prepare


class Running:
    def __init__(self, stack: Stack, pool: asyncpg.Pool, redis: Redis, load: Load) -> None:
        self.stack = stack
        self.pool = pool
        self.redis = redis
        self.load = load


@pytest.fixture(scope="module")
async def usher(
    environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    tmp: Path = tmp_path_factory.mktemp("faults")
    stack = Stack(tmp)
    try:
        pool, redis, screenings = await prepare(stack)
        yield Running(stack, pool, redis, Load(list(stack.apis), pool, screenings))
        await redis.aclose()
        await pool.close()
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.close()
