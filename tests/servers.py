"""Where the tests find PostgreSQL and Redis, for each in turn: TEST_DATABASE_URL / TEST_REDIS_URL
if set, else the local servers on 127.0.0.1:5432 and :6379 if they answer, else embedded servers
(PostgreSQL and Valkey from pip wheels) started in a temporary folder and removed at the end.

USHER_TEST_SERVERS=embedded skips the first two and always starts the embedded servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

MODES = {"", "auto", "embedded"}


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def scratch_folder(prefix: str = "usher-test-") -> Iterator[Path]:
    """A new folder for embedded servers' data, removed afterwards. Not pytest's tmp_path: run as
    root, PostgreSQL runs as the user `embedded_postgres`, who must be able to reach its folder,
    and every pytest session on the machine resets /tmp/pytest-of-root to mode 0700."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def find_servers() -> Iterator[tuple[str, str]]:
    """(admin PostgreSQL URL, Redis URL) for this test run; embedded servers it had to start are
    stopped, and their folder removed, when the block ends."""
    mode = os.environ.get("USHER_TEST_SERVERS", "")
    if mode not in MODES:
        raise RuntimeError(f"USHER_TEST_SERVERS must be 'embedded' or unset, not {mode!r}")
    database = redis = None
    if mode != "embedded":
        database = os.environ.get("TEST_DATABASE_URL")
        redis = os.environ.get("TEST_REDIS_URL")
        if database is None and _answers("127.0.0.1", 5432):
            database = "postgresql://postgres@127.0.0.1:5432/postgres"
        if redis is None and _answers("127.0.0.1", 6379):
            redis = "redis://127.0.0.1:6379/0"
    if database is not None and redis is not None:
        yield database, redis
        return

    from services.embedded import embedded_postgres, embedded_valkey

    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(scratch_folder())
        if database is None:
            pg = stack.enter_context(embedded_postgres(folder / "postgres", durable=False))
            database = pg.url("postgres")
        if redis is None:
            redis = stack.enter_context(embedded_valkey(folder / "valkey", durable=False)).url
        yield database, redis


@contextlib.contextmanager
def replicated_postgres() -> Iterator[tuple[str, str, Callable[[str], None]]]:
    """A private PostgreSQL primary and a hot standby streaming from it (embedded wheels, in a
    scratch folder): (primary URL, replica URL, `replica_sql(statement)` run on the standby
    with psql, e.g. to pause or resume its replay). Never the shared server."""
    from services.embedded import _embedded_postgres_module, embedded_postgres

    module = _embedded_postgres_module()
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with scratch_folder("usher-replica-") as folder, contextlib.ExitStack() as stack:
        primary = stack.enter_context(embedded_postgres(folder / "primary", durable=False))
        standby = folder / "standby"
        standby.mkdir(mode=0o700)
        if user is not None:
            import pwd

            owner = pwd.getpwnam(user)
            os.chown(standby, owner.pw_uid, owner.pw_gid)
        socket_dir = str(primary.socket_dir)
        module.pg_basebackup(
            ["-D", str(standby), "-R", "-X", "stream", "-h", socket_dir, "-U", "postgres"],
            user=user,
        )
        for leftover in (f".s.PGSQL.{primary.port}.lock", "postmaster.pid", "log"):
            (standby / leftover).unlink(missing_ok=True)  # the primary's, copied over
        replica = stack.enter_context(embedded_postgres(standby, durable=False))

        def replica_sql(statement: str) -> None:
            module.psql(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", replica.url(), "-c", statement])

        yield primary.url(), replica.url(), replica_sql
