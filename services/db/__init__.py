"""The asyncpg pool and connection setup shared by the API, the workers and the CLI."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

Connection = asyncpg.Connection  # re-exported so stores annotate with one name
Pool = asyncpg.Pool


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb columns come and go as Python objects, encoded by msgspec."""
    await conn.set_type_codec(
        "jsonb", encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog"
    )
    await conn.set_type_codec(
        "json", encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog"
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool: nothing beyond the rollback of an
    open transaction, which asyncpg does before calling this. Pooled connections never take
    session state (session advisory locks, LISTEN, SET, cursors: those get their own connection
    from connect()), so asyncpg's default reset, a round trip of four statements on every
    release, only costs time."""


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    """Open a pool whose connections decode json/jsonb with msgspec."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        server_settings={"application_name": "usher"},
    )
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    """One connection outside the pool (LISTEN, the migration runner, the CLI)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        url, server_settings={"application_name": "usher"}
    )
    await _init_connection(conn)
    return conn
