"""Apply the numbered plain-SQL migrations in services/db/migrations, each in its own transaction.

The runner holds a session advisory lock, so two processes starting at once apply each file once;
applied files are recorded in `schema_migration` with their checksum, and a changed file that was
already applied is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import asyncpg

from services.db import partitions

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x05E4_3E41  # "usher migrate"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


def migration_files() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration, in order; numbers must be unique."""
    found: list[tuple[int, str, str]] = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name {path.name!r} is not NNN_name.sql")
        found.append((int(match.group(1)), path.name, path.read_text()))
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise MigrationError("two migration files share a number")
    return found


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply every migration not yet applied; return the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migration (
                number integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {
            row["number"]: row["checksum"]
            for row in await conn.fetch("SELECT number, checksum FROM schema_migration")
        }
        for number, name, sql in migration_files():
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if number in done:
                if done[number] != checksum:
                    raise MigrationError(f"{name} changed after it was applied; add a new file")
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migration (number, name, checksum) VALUES ($1, $2, $3)",
                    number,
                    name,
                    checksum,
                )
            applied_now.append(name)
        if await conn.fetchval("SELECT to_regproc('event_partition_create') IS NOT NULL"):
            await partitions.create_ahead(conn)  # a fresh database has its coming days' partitions
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
