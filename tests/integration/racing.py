"""Racing real clients against a real server: independent HTTP clients, started together."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx


def caller(who: str) -> dict[str, str]:
    """Headers that make a simulated client its own caller: an `X-Forwarded-For` address of
    its own (10.x.y.z, from its name), which the test run's API reads because it trusts the
    local peer as its proxy (USHER_TRUSTED_PROXIES in tests/conftest.py)."""
    a, b, c = hashlib.sha256(who.encode()).digest()[:3]
    return {"X-Forwarded-For": f"10.{a}.{b}.{c}"}


@asynccontextmanager
async def clients(url: str, count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` independent HTTP clients (each its own connection pool). They share one TLS
    context: httpx builds one per client otherwise, at a tenth of a second each."""
    tls = ssl.create_default_context()
    made = [
        httpx.AsyncClient(base_url=url, timeout=60, verify=tls, trust_env=False)
        for _ in range(count)
    ]
    try:
        yield made
    finally:
        await asyncio.gather(*(c.aclose() for c in made))


async def at_once(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Start every call together (each waits for the same signal) and gather the answers."""
    go = asyncio.Event()

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        await go.wait()
        return await call()

    tasks = [asyncio.create_task(run(call)) for call in calls]
    await asyncio.sleep(0.05)
    go.set()
    return await asyncio.gather(*tasks)
