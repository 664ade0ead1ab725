"""`usher dev` for real, as a newcomer runs it: embedded servers in a data folder, the API on a
port, Ctrl-C stops everything; a second start finds the same data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from services.db.migrate import migration_files
from services.devstack import ROOT
from tests.servers import scratch_folder

START_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Dev:
    """`python -m services.cli dev` as a subprocess, its output collected line by line."""

    def __init__(self, data: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USHER_", "TEST_"))}
        env |= {"USHER_DATA_DIR": str(data), "USHER_PORT": str(port), "PYTHONPATH": str(ROOT)}
        self.port = port
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "dev"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Ctrl-C stops everything" in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        if not self.ready.wait(START_SECONDS):
            self.process.kill()
            pytest.fail(f"usher dev did not come up:\n{self.output}")

    def banner(self, label: str) -> str:
        for line in self.lines:
            if line.strip().startswith(label + " "):
                return line.split(None, 1)[1].strip()
        raise AssertionError(f"no {label!r} line in:\n{self.output}")

    def processes(self) -> list[psutil.Process]:
        """Every process this run owns: its children and the PostgreSQL server's."""
        found = psutil.Process(self.process.pid).children(recursive=True)
        postmaster = psutil.Process(int(self.postmaster_pid_file().read_text().split()[0]))
        return [*found, postmaster, *postmaster.children(recursive=True)]

    def postmaster_pid_file(self) -> Path:
        return Path(self.banner("data")) / "postgres" / "postmaster.pid"

    def stop(self, how: int = signal.SIGINT) -> int:
        self.process.send_signal(how)
        code = self.process.wait(60)
        self.reader.join(10)
        return code


def _all_gone(processes: list[psutil.Process]) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=15)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def _here_screenings(port: int) -> list[dict]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/v1/screenings",
        params={"feature": "assistive_listening", "limit": 100},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [s for s in response.json()["items"] if s["film"]["slug"] == "here"]


@pytest.fixture
def data() -> Iterator[Path]:
    """USHER_DATA_DIR for these runs (see scratch_folder: not pytest's tmp_path)."""
    with scratch_folder("usher-dev-") as folder:
        yield folder / "data"


@pytest.mark.slow
def test_usher_dev_runs_stops_cleanly_and_keeps_its_data(data: Path):
    port = _free_port()

    dev = Dev(data, port)
    try:
        dev.wait_ready()
        owned = dev.processes()
        names = " ".join(" ".join(p.cmdline()) for p in owned)
        assert "services.cli serve" in names
        assert "valkey-server" in names
        assert "postgres" in names

        here = _here_screenings(port)
        assert here, dev.output
        for screening in here:
            assert screening["format"] == "DCP"
            assert screening["film"]["rating"] == "NR"
            assert screening["film"]["runtime_minutes"] == 82
            assert screening["film"]["title"] == "HERE"
            assert set(screening["audio_languages"]) == {"fr", "ro", "zh", "nl"}
            assert screening["subtitles"]["language"] == "en"
            assert "assistive_listening" in screening["features"]
            assert "passports" in {s["slug"] for s in screening["series"]}
        for path in ("/schema/openapi.json", "/schema/swagger"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200
        with redis.Redis.from_url(dev.banner("redis")) as client:
            client.set("usher:devstack-test", "kept")
    finally:
        code = dev.stop(signal.SIGINT)

    assert code == 0, dev.output
    assert "usher dev: stopped" in dev.output
    assert _all_gone(owned) == [], dev.output
    assert not dev.postmaster_pid_file().exists()

    again = Dev(data, port)
    try:
        again.wait_ready()
        assert "applied" not in again.output  # migrated once, on the first start
        assert {s["id"] for s in _here_screenings(port)} == {s["id"] for s in here}
        with redis.Redis.from_url(again.banner("redis")) as client:
            assert client.get("usher:devstack-test") == b"kept"
        owned = again.processes()
        # A child that dies on its own is reported and everything else is stopped.
        api = next(p for p in owned if "serve" in p.cmdline())
        api.kill()
        code = again.process.wait(60)
        again.reader.join(10)
    finally:
        if again.process.poll() is None:
            again.stop(signal.SIGTERM)

    assert code == 1, again.output
    assert "api was killed by SIGKILL unexpectedly" in again.output
    assert _all_gone(owned) == [], again.output


def test_a_taken_port_stops_usher_dev_before_it_starts_anything(monkeypatch, tmp_path: Path):
    from services.devstack import run
    from services.settings import get_settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("USHER_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("USHER_DATA_DIR", str(tmp_path / "data"))
        get_settings.cache_clear()
        try:
            assert run() == 1
        finally:
            get_settings.cache_clear()
    assert not (tmp_path / "data").exists()


async def test_prepare_database_creates_migrates_and_loads_once(servers: tuple[str, str]):
    """What `usher dev` does to a configured server: the database is created if missing."""
    import asyncpg

    from services.devstack import prepare_database, with_database

    name = f"usher_dev_{os.getpid()}_{int(time.time())}"
    url = with_database(servers[0], name)
    admin = await asyncpg.connect(servers[0])
    try:
        applied = await prepare_database(url, date.today())
        assert applied == [name for _, name, _ in migration_files()]
        assert await prepare_database(url, date.today()) == []
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT count(*) FROM film WHERE slug = 'here'") == 1
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
