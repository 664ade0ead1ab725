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

    def __init__(self, data: Path, port: int | None, *, sigint_ignored: bool = False) -> None:
        """`port` None: as a newcomer starts it, with USHER_PORT unset. `sigint_ignored`: as
        `nohup` or a non-interactive shell's background job starts it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USHER_", "TEST_"))}
        env |= {"USHER_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
        if port is not None:
            env["USHER_PORT"] = str(port)
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
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Ctrl-C stops everything" in line:
                self.ready.set()
        self.process.stdout.close()  # at the end of the output: the process has exited

    @property
    def port(self) -> int:
        return int(self.banner("API").split("/v1/")[0].rsplit(":", 1)[1])

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        """Until the banner is printed; fails at once if the process ends first."""
        deadline = time.monotonic() + START_SECONDS
        while not self.ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                if self.process.poll() is None:
                    self.process.kill()
                self.process.wait()
                self.reader.join(10)
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


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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


@pytest.mark.slow
@pytest.mark.timeout(300)  # two `usher dev` starts on a busy machine
def test_two_usher_dev_run_side_by_side_and_sigint_stops_one_that_started_ignoring_it():
    """Neither sets a port: the second's API and mail sink take free ports, and it prints them.
    The second starts with SIGINT ignored (`nohup`, a background job of a script); SIGINT
    still stops it. A third on the first one's data folder is refused before it starts."""
    with scratch_folder("usher-dev-a-") as a, scratch_folder("usher-dev-b-") as b:
        first = Dev(a / "data", None)
        second: Dev | None = None
        try:
            first.wait_ready()  # then the second: as a developer would, with the first running
            second = Dev(b / "data", None, sigint_ignored=True)
            second.wait_ready()
            assert first.port != second.port
            assert first.banner("mail") != second.banner("mail")
            assert _here_screenings(first.port)
            assert _here_screenings(second.port)
            third = Dev(a / "data", None)
            assert third.process.wait(60) == 1
            third.reader.join(10)
            assert f"another usher dev uses {a / 'data'}" in third.output, third.output
            assert (first.process.poll(), second.process.poll()) == (None, None)
            owned = second.processes()
            second.process.send_signal(signal.SIGINT)
            code = second.process.wait(60)
        finally:
            for dev in (first, second):
                if dev is not None and dev.process.poll() is None:
                    dev.stop(signal.SIGTERM)
        second.reader.join(10)
    assert code == 0, second.output
    assert "usher dev: stopped" in second.output
    assert _all_gone(owned) == [], second.output


@pytest.mark.slow
@pytest.mark.timeout(300)  # two `usher dev` starts on a busy machine
def test_a_usher_dev_killed_hard_leaves_postgres_that_the_next_one_takes_over(data: Path):
    """SIGKILL leaves no chance to stop the embedded PostgreSQL (pg_ctl detached it; the
    other children die with their parent): the next `usher dev` on the folder finds it by its
    postmaster.pid, uses it and stops it on the way out."""
    first = Dev(data, None)
    try:
        first.wait_ready()
        postmaster = psutil.Process(int(first.postmaster_pid_file().read_text().split()[0]))
        first.process.kill()
        first.process.wait(30)
        first.reader.join(10)
    finally:
        if first.process.poll() is None:
            first.stop(signal.SIGTERM)
    assert postmaster.is_running()

    again = Dev(data, None)
    try:
        again.wait_ready()
        assert _here_screenings(again.port)
    finally:
        code = again.stop(signal.SIGINT)
    assert code == 0, again.output
    assert _all_gone([postmaster]) == [], again.output
    assert not again.postmaster_pid_file().exists()


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

    from services.devdata import prepare_database, with_database

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
