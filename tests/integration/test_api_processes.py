"""`usher serve --workers 2` spreads its clients' connections over both processes
(services/serving.py): each process listens on a socket of its own in the port's SO_REUSEPORT
group. With uvicorn's one shared socket, whichever process was awake took most of them."""

from __future__ import annotations

import asyncio
import collections
import sys
from pathlib import Path

import psutil
import pytest

from services.settings import get_settings
from tests.integration.events.conftest import Processes, free_port, wait_until
from tests.integration.events.test_observability import wait_for_http

CONNECTIONS = 40


async def _keep_alive(port: int) -> asyncio.StreamWriter:
    """A connection that has had one answer and stays open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: usher\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    return writer


def _sockets_by_process(api: psutil.Process, port: int, status: str) -> collections.Counter[int]:
    """The API's processes' sockets on `port` in this state (LISTEN, ESTABLISHED), by process."""
    counts: collections.Counter[int] = collections.Counter()
    for child in api.children(recursive=True):
        try:
            found = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:  # one that just died (zombies included)
            continue
        counts[child.pid] += sum(
            1 for c in found if c.status == status and c.laddr and c.laddr.port == port
        )
    return +counts  # those with none left out


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreads connections on Linux")
async def test_connections_spread_over_the_api_processes(db: object, tmp_path: Path) -> None:
    port = free_port()
    processes = Processes(tmp_path)
    try:
        api = processes.start(
            get_settings(), "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"
        )
        await wait_for_http(f"http://127.0.0.1:{port}/healthz")

        # the first process answers before the second listens
        async def both_listen() -> bool:
            listening = _sockets_by_process(psutil.Process(api.pid), port, psutil.CONN_LISTEN)
            return len(listening) == 2

        await wait_until(both_listen, within=60)
        # every one at once, as a till's and twenty doors' connections come when doors open
        writers = await asyncio.gather(*(_keep_alive(port) for _ in range(CONNECTIONS)))
        try:
            counts = _sockets_by_process(psutil.Process(api.pid), port, psutil.CONN_ESTABLISHED)
        finally:
            for writer in writers:
                writer.close()
        # a process that dies is replaced by one listening on a socket of its own again
        first = set(_sockets_by_process(psutil.Process(api.pid), port, psutil.CONN_LISTEN))
        killed = min(first)
        psutil.Process(killed).kill()

        async def replaced() -> bool:
            now = set(_sockets_by_process(psutil.Process(api.pid), port, psutil.CONN_LISTEN))
            return len(now) == 2 and killed not in now

        await wait_until(replaced, within=60)
    finally:
        processes.close()
    assert sum(counts.values()) == CONNECTIONS, counts
    # by a hash of each client's port: 20 each on average; under 10 one time in 5,000
    assert len(counts) == 2, counts
    assert min(counts.values()) >= 10, counts
