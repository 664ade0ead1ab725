"""Fixtures of the box-office tests: demo screenings in each auditorium, and a real API server
process for the races."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest

from tests.integration.box_office.helpers import screening_in


@pytest.fixture
async def big(demo: asyncpg.Pool) -> UUID:
    """A GHOST TROPIC screening in Cinema 1: 300 seats, row M with wheelchair spaces."""
    return await screening_in(demo, "cinema-1")


@pytest.fixture
async def small(demo: asyncpg.Pool) -> UUID:
    """A HERE screening in Cinema 2: 92 seats."""
    return await screening_in(demo, "cinema-2")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def api(environment: dict[str, str]) -> Iterator[str]:
    """A real API server process (`usher serve`) on this run's database; its base URL."""
    root = Path(__file__).resolve().parents[3]
    port = _free_port()
    env = {**os.environ, **environment, "PYTHONPATH": str(root), "USHER_DB_POOL_MAX": "8"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=root,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a busy machine, coverage in the child: slow starts
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
