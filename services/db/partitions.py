"""The day partitions of the outbox and processed_event (migration 027): made ahead of time,
dropped whole once every row in them is past retention.

Both tables are range-partitioned by `event_id`, a UUIDv7 whose leading bits are the time it was
made, so one partition holds the events made on one UTC day (`<table>_pYYYYMMDD`). The SQL
function `event_partition_create` makes one (idempotent; it moves that day's rows out of the
DEFAULT partition if any landed there). `create_ahead` runs at migrate time and from the
worker's prune cron; `drop_expired` is the retention: a partition goes only when its day has
ended before the cutoff and no row in it is still needed, checked again after it is detached
(under the parent's lock), so an unpublished event is never dropped.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import asyncpg

DAYS_AHEAD = 3  # partitions exist from today to this many days ahead (UTC)
LOCK_TIMEOUT = "1s"  # writers queue behind a waiting DETACH: keep the wait short, retry later

# Per partitioned table: the rows retention must keep (the old row-by-row rule, negated).
STILL_NEEDED = {
    # unpublished, or published within the outbox's retention
    "outbox": "published_at IS NULL OR published_at >= $1",
    # processed within the stream's retention and a day: a duplicate could still arrive
    "processed_event": "processed_at >= $1",
}
PARTITIONED = tuple(STILL_NEEDED)

_DAY = re.compile(r"_p(\d{8})$")
_TODAY = "SELECT (now() AT TIME ZONE 'UTC')::date"
_CREATE = "SELECT event_partition_create($1::regclass, $2)"
_PARTITIONS = """
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = $1::regclass ORDER BY c.relname
"""


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


async def day_partitions(conn: asyncpg.Connection, table: str) -> dict[date, str]:
    """`table`'s day partitions by day (the DEFAULT partition is not one)."""
    found: dict[date, str] = {}
    for row in await conn.fetch(_PARTITIONS, table):
        match = _DAY.search(row["relname"])
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = row["relname"]
    return found


async def create_ahead(
    conn: asyncpg.Connection, *, today: date | None = None, days: int = DAYS_AHEAD
) -> list[str]:
    """Make every missing partition from `today` (the database's UTC day) to `days` ahead, for
    both tables; return the names made now. One whose table stayed locked past LOCK_TIMEOUT is
    left for the next call."""
    start = today or await conn.fetchval(_TODAY)
    made: list[str] = []
    for table in PARTITIONED:
        for offset in range(days + 1):
            day = start + timedelta(days=offset)
            try:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    if await conn.fetchval(_CREATE, table, day):
                        made.append(partition_name(table, day))
            except asyncpg.LockNotAvailableError:
                continue  # busy: the next run (ten minutes on, days ahead of need) makes it
    return made


async def drop_expired(conn: asyncpg.Connection, table: str, cutoff: datetime) -> list[str]:
    """Detach and drop each day partition of `table` whose day ended by `cutoff` and that holds
    no row still needed (STILL_NEEDED[table] at `cutoff`); return the names dropped. A partition
    that gained a needed row meanwhile, or whose lock did not come in time, waits for the next
    run."""
    dropped: list[str] = []
    for day, name in (await day_partitions(conn, table)).items():
        if datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) > cutoff:
            continue
        try:
            if await _drop(conn, table, name, cutoff):
                dropped.append(name)
        except (_Keep, asyncpg.LockNotAvailableError):
            pass
    return dropped


async def _drop(conn: asyncpg.Connection, table: str, name: str, cutoff: datetime) -> bool:
    check = f'SELECT EXISTS (SELECT 1 FROM "{name}" WHERE {STILL_NEEDED[table]})'
    if await conn.fetchval(check, cutoff):
        return False  # a cheap look first, without the lock
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute(f'ALTER TABLE {table} DETACH PARTITION "{name}"')
        if await conn.fetchval(check, cutoff):
            raise _Keep  # a replay un-published a row since the first look: stay attached
        await conn.execute(f'DROP TABLE "{name}"')
    return True


class _Keep(Exception):
    """Rolls back a detach whose partition turned out to hold a needed row."""
