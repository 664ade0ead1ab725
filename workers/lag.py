"""How far behind the backbone is: `usher lag` prints this and exits 1 when it is unhealthy.

- the relay: is one leading (it holds the advisory lock), how many outbox rows wait, and how old
  the oldest is;
- each consumer group: how many workers run it (their heartbeat; none is unhealthy), entries
  not yet delivered to it and how old the first of them is, entries
  delivered but not acknowledged (pending) and how old the oldest is;
- the dead-letter stream's length.
"""

from __future__ import annotations

import time

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.settings import Settings
from workers.constants import DEAD_LETTERS, RELAY_LOCK, key
from workers.health import live_consumers


class GroupLag(msgspec.Struct, frozen=True):
    group: str
    consumers: int  # known to the group (a dead worker's stay until its entries are taken over)
    live_consumers: int  # workers running this group whose heartbeat is fresh
    undelivered: int  # entries after the group's last delivered id
    undelivered_age_seconds: float | None  # age of the first of them
    pending: int  # delivered, not yet acknowledged
    pending_age_seconds: float | None  # age of the oldest pending entry


class LagReport(msgspec.Struct, frozen=True):
    relay_leader: str | None  # "usher relay <pid>" and the host it connects from
    outbox_waiting: int
    outbox_oldest_seconds: float | None
    stream: str
    stream_length: int
    groups: list[GroupLag]
    dead_letters: int
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems


_OUTBOX = """
    SELECT count(*) AS waiting,
           extract(epoch FROM now() - min(recorded_at))::float8 AS oldest
    FROM outbox WHERE published_at IS NULL
"""
_LEADER = """
    SELECT a.application_name, a.client_addr::text AS client
    FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


COUNT_LIMIT = 10_000  # counting undelivered entries by hand stops here (Redis 6.2)


def _age(stream_id: bytes | str | None, now_ms: int) -> float | None:
    if not stream_id:
        return None
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return max(now_ms - int(text.split("-")[0]), 0) / 1000


async def _group_lag(
    redis: Redis, settings: Settings, info: dict[str, object], now_ms: int
) -> GroupLag:
    stream = settings.redis.events_stream
    name = info["name"]
    group = name.decode() if isinstance(name, bytes) else str(name)
    last = info["last-delivered-id"]
    after = b"(" + last if isinstance(last, bytes) else f"({last}"
    first = await redis.xrange(stream, min=after, count=1)
    lag = info.get("lag")  # Redis 7+; None on 6.2 or when Redis cannot tell (after trimming)
    if isinstance(lag, int):
        undelivered = lag
    else:
        undelivered = len(await redis.xrange(stream, min=after, count=COUNT_LIMIT)) if first else 0
    pending = int(info["pending"])  # type: ignore[call-overload]
    pending_age = None
    if pending:
        summary = await redis.xpending(stream, group)
        pending_age = _age(summary.get("min"), now_ms)
    return GroupLag(
        group=group,
        consumers=int(info["consumers"]),  # type: ignore[call-overload]
        live_consumers=len(await live_consumers(redis, settings.redis, group)),
        undelivered=undelivered,
        undelivered_age_seconds=_age(first[0][0], now_ms) if first else None,
        pending=pending,
        pending_age_seconds=pending_age,
    )


async def measure(settings: Settings, conn: asyncpg.Connection, redis: Redis) -> LagReport:
    """Read the lag from PostgreSQL and Redis; unhealthy past `lag_alert_seconds`."""
    alert = settings.events.lag_alert_seconds
    stream = settings.redis.events_stream
    problems: list[str] = []
    outbox = await conn.fetchrow(_OUTBOX)
    assert outbox is not None
    row = await conn.fetchrow(_LEADER, RELAY_LOCK)
    leader = None if row is None else f"{row['application_name']} from {row['client'] or 'local'}"
    if leader is None:
        problems.append("no relay is running")
    if outbox["oldest"] is not None and outbox["oldest"] > alert:
        problems.append(f"the oldest unpublished event waited {outbox['oldest']:.0f} s")
    now_ms = int(time.time() * 1000)
    groups: list[GroupLag] = []
    try:
        infos = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream yet
        infos = []
    for info in infos:
        lag = await _group_lag(redis, settings, info, now_ms)
        groups.append(lag)
        if not lag.live_consumers:
            problems.append(f"group {lag.group}: no worker is running it")
        if lag.undelivered_age_seconds is not None and lag.undelivered_age_seconds > alert:
            problems.append(
                f"group {lag.group}: {lag.undelivered} entries undelivered for "
                f"{lag.undelivered_age_seconds:.0f} s"
            )
        if lag.pending_age_seconds is not None and lag.pending_age_seconds > 2 * alert:
            problems.append(
                f"group {lag.group}: {lag.pending} entries unacknowledged, the oldest for "
                f"{lag.pending_age_seconds:.0f} s"
            )
    return LagReport(
        relay_leader=leader,
        outbox_waiting=outbox["waiting"],
        outbox_oldest_seconds=outbox["oldest"],
        stream=stream,
        stream_length=await redis.xlen(stream),
        groups=groups,
        dead_letters=await redis.xlen(key(settings.redis, DEAD_LETTERS)),
        problems=problems,
    )


def render(report: LagReport) -> str:
    """The human form `usher lag` prints."""

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    leader = report.relay_leader or "none"
    lines = [
        f"relay leader:    {leader}",
        f"outbox waiting:  {report.outbox_waiting} (oldest {secs(report.outbox_oldest_seconds)})",
        f"stream:          {report.stream} ({report.stream_length} entries)",
        f"dead letters:    {report.dead_letters}",
    ]
    for g in report.groups:
        lines.append(
            f"group {g.group}: {g.live_consumers} live consumers ({g.consumers} known), "
            f"undelivered {g.undelivered} "
            f"(oldest {secs(g.undelivered_age_seconds)}), pending {g.pending} "
            f"(oldest {secs(g.pending_age_seconds)})"
        )
    lines.append("healthy" if report.healthy else "UNHEALTHY: " + "; ".join(report.problems))
    return "\n".join(lines)
