"""`usher dev`'s database: the URLs it prints and connects to, and the database it prepares
(created if missing, migrated, the demo programme loaded)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    """The same server URL naming another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def without_password(url: str) -> str:
    """The URL to print: a password in it is masked."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def prepare_database(url: str, today: date) -> list[str]:
    """Create the URL's database if missing, migrate it and load the demo data; returns the
    migrations applied now."""
    from services.db import connect
    from services.db.migrate import apply_migrations
    from services.demo import load_demo_data, screening_soon

    name = urlsplit(url).path.lstrip("/")
    try:
        conn = await connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(with_database(url, "postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # another process got there first
        finally:
            await admin.close()
        conn = await connect(url)
    try:
        applied = await apply_migrations(conn)
        await load_demo_data(conn, today)
        await screening_soon(conn, datetime.now(UTC))  # the desk tour needs one (README)
    finally:
        await conn.close()
    return applied
