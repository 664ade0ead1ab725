"""Where the tests find PostgreSQL and Redis: TEST_DATABASE_URL / TEST_REDIS_URL if set, else the
local servers on 127.0.0.1:5432 and :6379 if they answer."""

from __future__ import annotations

import os
import socket


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def find_servers() -> tuple[str, str]:
    """(admin PostgreSQL URL, Redis URL) for this test run."""
    database = os.environ.get("TEST_DATABASE_URL")
    redis = os.environ.get("TEST_REDIS_URL")
    if database is None and _answers("127.0.0.1", 5432):
        database = "postgresql://postgres@127.0.0.1:5432/postgres"
    if redis is None and _answers("127.0.0.1", 6379):
        redis = "redis://127.0.0.1:6379/0"
    if database is None or redis is None:
        raise RuntimeError("no PostgreSQL or Redis for the tests")
    return database, redis
