"""The embedded servers on their own: started in a folder, stopped, started again on its data."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from services.embedded import _valkey_executable, embedded_postgres, embedded_valkey
from tests.servers import scratch_folder


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder the `embedded_postgres` user can reach (see scratch_folder)."""
    with scratch_folder() as folder:
        yield folder


def _gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` has exited (a zombie waiting for its parent counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


async def test_postgres_keeps_its_data_across_a_restart(folder: Path):
    pgdata = folder / "postgres"
    with embedded_postgres(pgdata) as pg:
        conn = await asyncpg.connect(pg.url())
        await conn.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('here')")
        await conn.close()
        first = pg.pid
    assert _gone(first)
    assert not (pgdata / "postmaster.pid").exists()

    with embedded_postgres(pgdata) as pg:
        assert pg.pid != first
        conn = await asyncpg.connect(pg.url())
        assert await conn.fetchval("SELECT value FROM kept") == "here"
        await conn.close()
    assert _gone(pg.pid)


def test_valkey_keeps_its_data_across_a_restart(folder: Path):
    with embedded_valkey(folder) as kv:
        with redis.Redis.from_url(kv.url) as client:
            client.set("usher:kept", "here")
            client.xadd("usher:stream", {"n": "1"})
        first = kv.pid
    assert _gone(first)
    assert not (folder / "valkey.pid").exists()

    with embedded_valkey(folder) as kv, redis.Redis.from_url(kv.url) as client:
        assert client.get("usher:kept") == b"here"
        assert client.xlen("usher:stream") == 1


def test_a_throwaway_valkey_keeps_nothing(folder: Path):
    with embedded_valkey(folder, durable=False) as kv, redis.Redis.from_url(kv.url) as client:
        client.set("usher:gone", "1")
    with embedded_valkey(folder, durable=False) as kv, redis.Redis.from_url(kv.url) as client:
        assert client.get("usher:gone") is None


def test_a_valkey_left_running_on_the_folder_is_stopped_first(folder: Path):
    leftover = subprocess.Popen(
        [
            *(_valkey_executable(), "--port", "0", "--dir", str(folder)),
            *("--pidfile", str(folder / "valkey.pid"), "--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (folder / "valkey.pid").exists():
            assert time.monotonic() < deadline, "the leftover valkey-server did not start"
            time.sleep(0.02)
        with embedded_valkey(folder, durable=False) as kv:
            assert leftover.wait(10) is not None
            assert kv.pid != leftover.pid
    finally:
        if leftover.poll() is None:
            leftover.send_signal(signal.SIGKILL)
            leftover.wait()


def test_a_taken_port_is_an_error_not_a_hang(folder: Path):
    with (
        embedded_valkey(folder / "a", durable=False) as kv,
        pytest.raises(RuntimeError, match="could not bind"),
        embedded_valkey(folder / "b", durable=False, port=kv.port),
    ):
        pass


async def test_with_no_server_answering_the_tests_start_their_own(monkeypatch):
    import tests.servers

    for name in ("TEST_DATABASE_URL", "TEST_REDIS_URL", "USHER_TEST_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tests.servers, "_answers", lambda host, port: False)
    with tests.servers.find_servers() as (database, redis_url):
        folder = Path(database.split("host=", 1)[1]).parent
        conn = await asyncpg.connect(database)
        assert await conn.fetchval("SHOW fsync") == "off"  # throw-away: speed over safety
        await conn.close()
        with redis.Redis.from_url(redis_url) as client:
            assert client.ping()
            pid = client.info("server")["process_id"]
    assert _gone(pid)
    assert not folder.exists()


def test_a_configured_database_is_kept_and_only_redis_is_started(monkeypatch):
    import tests.servers

    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://postgres@db.invalid/postgres")
    monkeypatch.delenv("TEST_REDIS_URL", raising=False)
    monkeypatch.delenv("USHER_TEST_SERVERS", raising=False)
    monkeypatch.setattr(tests.servers, "_answers", lambda host, port: False)
    with tests.servers.find_servers() as (database, redis_url):
        assert database == "postgresql://postgres@db.invalid/postgres"
        with redis.Redis.from_url(redis_url) as client:
            assert client.ping()


def test_an_unknown_server_mode_is_refused(monkeypatch):
    import tests.servers

    monkeypatch.setenv("USHER_TEST_SERVERS", "docker")
    with pytest.raises(RuntimeError, match="USHER_TEST_SERVERS"), tests.servers.find_servers():
        pass
