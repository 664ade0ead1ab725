"""`usher lag`: what it reports, and its exit code as a health check."""

from __future__ import annotations

import json
import subprocess
import sys
from uuid import UUID

import asyncpg
import msgspec
from redis.asyncio import Redis

from services.settings import Settings
from tests.integration.events.conftest import (
    ROOT,
    effects_caught_up,
    env_for,
    group_runner,
    published,
    running,
    wait_until,
    write_events,
)
from workers.lag import measure, render
from workers.relay import Relay


def usher_lag(settings: Settings) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "lag", "--json"],
        cwd=ROOT,
        env=env_for(settings),
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


async def test_lag_reports_the_waiting_backlog_and_recovers_when_drained(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    strict = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, lag_alert_seconds=0)
    )
    await write_events(db, screenings, 50, writers=2)
    async with db.acquire() as conn:
        report = await measure(strict, conn, redis)
    assert report.relay_leader is None
    assert report.outbox_waiting == await db.fetchval("SELECT count(*) FROM outbox")
    assert "no relay is running" in report.problems
    assert any("oldest unpublished" in p for p in report.problems)
    assert "UNHEALTHY" in render(report)
    code, body = usher_lag(strict)
    assert code == 1
    assert body["healthy"] is False

    # published but not consumed: the group's backlog shows
    async with running(Relay(settings)):
        await wait_until(published(db))
        runner = group_runner(settings, db, redis)
        await runner._ensure_group(runner.consumer.start)
        async with db.acquire() as conn:
            report = await measure(strict, conn, redis)
        assert report.relay_leader is not None
        assert report.relay_leader.startswith("usher relay")
        [group] = report.groups
        assert group.group == "last-event"
        assert group.undelivered == report.stream_length
        assert any("group last-event" in p for p in report.problems)

        async with running(runner):
            await wait_until(effects_caught_up(db))
            async with db.acquire() as conn:

                async def healthy() -> bool:
                    report = await measure(settings, conn, redis)
                    return report.healthy and report.groups[0].pending == 0

                await wait_until(healthy)
            code, body = usher_lag(settings)
    assert code == 0, body
    assert body["healthy"] is True
    assert body["outbox_waiting"] == 0


async def test_a_group_nobody_runs_is_unhealthy_and_dead_consumers_leave_it(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    """Lag is not the only sign: a group whose workers are all gone is unhealthy at once, even
    with nothing waiting; a consumer whose worker is gone (no heartbeat) is removed from the
    group once it has nothing pending, so it is not counted."""
    runner = group_runner(settings, db, redis, name="alive-1")
    async with running(Relay(settings), runner):
        await write_events(db, screenings, 20, writers=2)
        await wait_until(effects_caught_up(db))
        # a consumer of a worker that died (its entries taken over): idle, nothing pending
        stream = settings.redis.events_stream
        assert await redis.execute_command(
            "XGROUP", "CREATECONSUMER", stream, "last-event", "ghost"
        )
        async with db.acquire() as conn:

            async def ghost_gone() -> bool:
                report = await measure(settings, conn, redis)
                return report.healthy and report.groups[0].consumers == 1

            await wait_until(ghost_gone, within=30)
            report = await measure(settings, conn, redis)
            assert report.groups[0].live_consumers == 1
    names = [
        c["name"] for c in await redis.xinfo_consumers(settings.redis.events_stream, "last-event")
    ]
    assert names == [b"alive-1"]
    async with db.acquire() as conn:  # its only worker stopped: nobody reads the group
        report = await measure(settings, conn, redis)
    assert "group last-event: no worker is running it" in report.problems
    assert report.groups[0].undelivered == 0  # not for lag: there is none
