"""Redis high availability through Sentinel: real redis-server processes (a primary, a replica
and three sentinels, all the test's own) and real `usher relay` and `usher worker` processes
told only where the sentinels are. A failover in the middle of a stream of events loses
nothing and applies nothing twice, and nobody restarts anything."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.settings import Settings
from tests.integration.events.conftest import (
    Processes,
    Written,
    assert_effects_once,
    check_stream,
    effects_caught_up,
    free_port,
    published,
    stream_entries,
    wait_until,
    write_events,
)

pytestmark = pytest.mark.slow
MASTER = "usher-test"


class SentinelSet:
    """A primary, a replica of it and three sentinels watching them, on free loopback ports."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            pytest.skip("no redis-server binary")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="usher-sentinel-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.primary, self.replica = free_port(), free_port()
        self.sentinels = [free_port() for _ in range(3)]

    def _server(self, *args: str) -> None:
        self.procs.append(
            subprocess.Popen(
                [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    def start(self) -> None:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self._server("--port", str(self.primary), *common)
        self._server(
            "--port", str(self.replica), *common, "--replicaof", "127.0.0.1", str(self.primary)
        )
        for port in self.sentinels:
            config = self.dir / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
            )
            self._server(str(config), "--sentinel")

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinels)

    def sentinel(self, n: int = 0) -> Redis:
        return Redis(host="127.0.0.1", port=self.sentinels[n], decode_responses=True)

    async def primary_port(self) -> int:
        async with self.sentinel() as client:
            _, port = await client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(port)

    async def ready(self) -> bool:
        """Every sentinel knows the replica and the other sentinels."""
        try:
            for n in range(len(self.sentinels)):
                async with self.sentinel(n) as client:
                    master = await client.execute_command("SENTINEL", "MASTER", MASTER)
                    info = dict(zip(master[::2], master[1::2], strict=True))
                    if int(info["num-slaves"]) < 1 or int(info["num-other-sentinels"]) < 2:
                        return False
            async with Redis(host="127.0.0.1", port=self.replica) as replica:
                role = await replica.info("replication")
            return bool(role.get("master_link_status") == "up")
        except (OSError, ConnectionError, KeyError):
            return False
        except Exception:
            return False

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    found = SentinelSet()
    found.start()
    yield found
    found.close()


async def test_a_failover_under_load_loses_nothing(
    settings: Settings,
    processes: Processes,
    db: asyncpg.Pool,
    screenings: list[UUID],
    sentinels: SentinelSet,
) -> None:
    await wait_until(sentinels.ready, within=60, every=0.2)
    env = {
        "USHER_REDIS_URL": "redis://sentinel-managed/0",
        "USHER_REDIS_SENTINELS": sentinels.addresses,
        "USHER_REDIS_SENTINEL_MASTER": MASTER,
    }
    relay = processes.start(settings, "relay", **env)
    worker = processes.start(settings, "worker", "--group", "last-event", **env)
    first = await write_events(db, screenings, 200, pause=0.002)
    await wait_until(published(db), within=60)
    before = await sentinels.primary_port()
    assert before == sentinels.primary

    async with sentinels.sentinel() as client:
        await client.execute_command("SENTINEL", "FAILOVER", MASTER)
    started = time.monotonic()
    during = await write_events(db, screenings, 400, pause=0.005)

    async def moved() -> bool:
        return await sentinels.primary_port() == sentinels.replica

    await wait_until(moved, within=60, every=0.1)

    async def old_primary_demoted() -> bool:
        try:
            async with Redis(host="127.0.0.1", port=sentinels.primary) as old:
                role = await old.info("replication")
        except RedisConnectionError:  # it drops its clients as it becomes a replica
            return False
        return bool(role.get("role") == "slave" and role.get("master_link_status") == "up")

    # Until the sentinels turn the old primary into a replica, clients still connected to it
    # write there (Redis has no fencing); those writes are lost when it resyncs. The relay
    # must notice and publish them again.
    await wait_until(old_primary_demoted, within=60, every=0.1)
    failover_seconds = time.monotonic() - started
    after = await write_events(db, screenings, 200, pause=0.002)
    await wait_until(published(db), within=90)
    expected = {str(e) for phase in (first, during, after) for e in phase.ids}

    async def all_on_the_new_primary() -> bool:
        async with Redis(host="127.0.0.1", port=sentinels.replica) as client:
            found = {fields[b"id"].decode() for _, fields in await client.xrange(stream)}
        return expected <= found

    stream = settings.redis.events_stream
    await wait_until(all_on_the_new_primary, within=90, every=0.2)
    await wait_until(effects_caught_up(db), within=90)

    new_primary = Redis(host="127.0.0.1", port=sentinels.replica)
    try:
        entries = await stream_entries(new_primary, stream)
    finally:
        await new_primary.aclose()
    written = Written(
        {
            s: [
                *first.by_screening.get(s, []),
                *during.by_screening.get(s, []),
                *after.by_screening.get(s, []),
            ]
            for s in screenings
        }
    )
    check_stream(entries, written, duplicates=True)
    await assert_effects_once(db, written)
    assert relay.poll() is None, processes.logs()[-3000:]
    assert worker.poll() is None, processes.logs()[-3000:]
    print(f"failover under load: new primary after {failover_seconds:.1f} s")
