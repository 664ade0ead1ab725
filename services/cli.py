"""The `usher` command: dev | serve | worker | relay | lag | alive | replay | migrate |
demo-data | create-staff | events-doc | mail-sink."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from typing import Any

from services.settings import Settings, get_settings, key_problem

Command = Callable[[argparse.Namespace], int]


def _keys_refused() -> bool:
    """serve, worker and relay never run on a missing, short or development key: one line on
    stderr, and the command exits 2 (docs/security.md, the production checklist)."""
    problem = key_problem(get_settings().auth, get_settings().payments)
    if problem is not None:
        print(f"usher: {problem}", file=sys.stderr)
    return problem is not None


async def _migrate() -> list[str]:
    from services.db import connect
    from services.db.migrate import apply_migrations

    conn = await connect(get_settings().database.url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    applied = asyncio.run(_migrate())
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from services.db import connect
    from services.demo import DEMO_MANAGER, DEMO_STAFF, load_demo_data

    async def run() -> bool:
        conn = await connect(get_settings().database.url)
        try:
            return await load_demo_data(conn, date.today())
        finally:
            await conn.close()

    loaded = asyncio.run(run())
    print("demo data loaded" if loaded else "demo data already present")
    print(f"demo manager: {DEMO_MANAGER[0]} / {DEMO_MANAGER[1]}")
    print(f"demo staff:   {DEMO_STAFF[0]} / {DEMO_STAFF[1]}")
    return 0


def cmd_create_staff(args: argparse.Namespace) -> int:
    import msgspec

    from schemas.staff import StaffMemberIn
    from services.db import connect
    from services.errors import Conflict
    from services.staff import store
    from services.staff.passwords import hash_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    if len(password) < 10:
        print("usher: the password needs at least 10 characters", file=sys.stderr)
        return 2
    try:  # the same rules as POST /v1/staff/members: one parsed address, a one-line name
        msgspec.convert(
            {"email": args.email, "name": args.name or args.email, "password": password},
            StaffMemberIn,
        )
    except msgspec.ValidationError as exc:
        print(f"usher: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        conn = await connect(get_settings().database.url)
        try:
            await store.create_staff(
                conn,
                email=args.email,
                name=args.name or args.email,
                role=args.role,
                password_hash=hash_password(password),
            )
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except Conflict as exc:
        print(f"usher: {exc.detail}", file=sys.stderr)
        return 1
    print(f"created {args.role} {args.email}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if _keys_refused():
        return 2
    settings = get_settings()
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # several processes: the metrics client adds up their files (services/metrics.py)
        metrics_dir = tempfile.mkdtemp(prefix="usher-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        _run_uvicorn(args, settings)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _run_uvicorn(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from services import serving
    from services.logs import uvicorn_log_config

    options: dict[str, Any] = {
        "factory": True,
        "host": args.host or settings.host,
        "port": args.port or settings.port,
        "workers": args.workers,
        "log_level": args.log_level,
        "access_log": args.access_log,
        "log_config": uvicorn_log_config(settings.log_format, args.log_level),
        "proxy_headers": False,  # the app reads X-Forwarded-For itself (USHER_TRUSTED_PROXIES)
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    if args.workers > 1 and serving.REUSE_PORT:  # the connections spread over the processes
        serving.run_workers(uvicorn.Config("services.app:create_app", **options))
    else:
        uvicorn.run("services.app:create_app", **options)


def cmd_relay(args: argparse.Namespace) -> int:
    if _keys_refused():
        return 2
    from workers.process import run_relay

    asyncio.run(run_relay(get_settings()))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    if _keys_refused():
        return 2
    from workers.process import run_worker
    from workers.registry import CONSUMERS

    consumers = CONSUMERS
    if args.group:
        unknown = set(args.group) - {c.group for c in CONSUMERS}
        if unknown:
            print(f"usher: no consumer group {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        consumers = tuple(c for c in CONSUMERS if c.group in args.group)
    asyncio.run(run_worker(get_settings(), consumers=consumers, name=args.name, jobs=args.jobs))
    return 0


def cmd_lag(args: argparse.Namespace) -> int:
    import msgspec

    from services.db import connect
    from services.redis_client import connect_redis
    from workers.lag import LagReport, measure, render

    settings = get_settings()

    async def run() -> LagReport:
        conn = await connect(settings.database.url)
        redis = connect_redis(settings.redis, socket_timeout=5, socket_connect_timeout=2)
        try:
            return await measure(settings, conn, redis)
        finally:
            await redis.aclose()
            await conn.close()

    try:
        report = asyncio.run(run())
    except Exception as exc:  # a health check says why it cannot tell, and fails
        print(f"usher: cannot measure the lag: {exc!r}", file=sys.stderr)
        return 2
    if args.json:
        body = msgspec.to_builtins(report)
        body["healthy"] = report.healthy
        print(msgspec.json.encode(body).decode())
    else:
        print(render(report))
    return 0 if report.healthy else 1


def cmd_alive(args: argparse.Namespace) -> int:
    from workers.health import alive

    path = args.file or get_settings().events.health_file
    if not path:
        print("usher: no health file (set USHER_HEALTH_FILE)", file=sys.stderr)
        return 2
    if alive(path, args.within):
        return 0
    print(f"usher: {path} not touched for {args.within:.0f} s: the loop is stuck", file=sys.stderr)
    return 1


def cmd_replay(args: argparse.Namespace) -> int:
    from datetime import datetime
    from uuid import UUID

    from services.db import connect
    from workers.replay import replay

    since: datetime | UUID
    try:
        since = UUID(args.since)
    except ValueError:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print("usher: --since takes an event id or an ISO time", file=sys.stderr)
            return 2
        if since.tzinfo is None:
            print("usher: give the time with its offset, e.g. 2026-12-06T05:00Z", file=sys.stderr)
            return 2

    async def run() -> int:
        conn = await connect(get_settings().database.url)
        try:
            return await replay(conn, since)
        finally:
            await conn.close()

    count = asyncio.run(run())
    print(f"{count} events will be published again by the relay")
    return 0


def cmd_mail_sink(args: argparse.Namespace) -> int:
    import signal
    from pathlib import Path

    from services.embedded import dev_extra_missing

    try:
        from workers.emails.sink import run_sink
    except ModuleNotFoundError as exc:
        if exc.name != "aiosmtpd":
            raise
        print(f"usher mail-sink: {dev_extra_missing(exc.name)}", file=sys.stderr)
        return 1

    settings = get_settings()
    folder = Path(args.dir or Path(settings.data_dir) / "mail").expanduser().resolve()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_sink(
            folder, args.host or settings.mail.host, args.port or settings.mail.port, stop
        )

    asyncio.run(run())
    return 0


def cmd_events_doc(args: argparse.Namespace) -> int:
    from workers import event_docs

    if args.check:
        stale = event_docs.stale()
        for path in stale:
            print(f"stale: {path} (run `usher events-doc`)", file=sys.stderr)
        return 1 if stale else 0
    for path in event_docs.write():
        print(f"wrote {path}")
    return 0


def cmd_door_key(args: argparse.Namespace) -> int:
    from services.door.codes import new_key_entry

    print(new_key_entry(args.id))
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from services.devstack import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="usher", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser(
        "dev", help="the whole system with demo data, on embedded servers unless configured"
    ).set_defaults(run=cmd_dev)

    serve = sub.add_parser("serve", help="run the API (uvicorn)")
    serve.add_argument("--host", help="default: USHER_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: USHER_PORT (8000)")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    sub.add_parser("demo-data", help="load the demo programme and staff").set_defaults(
        run=cmd_demo_data
    )

    staff = sub.add_parser("create-staff", help="add a staff account")
    staff.add_argument("email")
    staff.add_argument("--name")
    staff.add_argument("--role", choices=["staff", "manager"], default="staff")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    staff.set_defaults(run=cmd_create_staff)

    sub.add_parser("relay", help="publish outbox rows to the events stream").set_defaults(
        run=cmd_relay
    )
    worker = sub.add_parser("worker", help="run the stream consumer groups and the arq worker")
    worker.add_argument("--name", help="consumer name (default: <host>-<pid>)")
    worker.add_argument("--group", action="append", help="run only this group (repeatable)")
    worker.add_argument(
        "--no-jobs", dest="jobs", action="store_false", help="do not run arq jobs here"
    )
    worker.set_defaults(run=cmd_worker)
    lag = sub.add_parser("lag", help="relay and consumer lag; exit 1 when unhealthy")
    lag.add_argument("--json", action="store_true")
    lag.set_defaults(run=cmd_lag)
    alive = sub.add_parser(
        "alive", help="liveness of a worker or relay here: its health file is fresh (exit 0)"
    )
    alive.add_argument("--file", help="default: USHER_HEALTH_FILE")
    alive.add_argument("--within", type=float, default=30.0, help="seconds (default 30)")
    alive.set_defaults(run=cmd_alive)
    replay = sub.add_parser(
        "replay", help="publish retained outbox events again (consumers drop what they applied)"
    )
    replay.add_argument(
        "--since", required=True, help="an event id (it and those after it) or an ISO time"
    )
    replay.set_defaults(run=cmd_replay)
    sink = sub.add_parser(
        "mail-sink", help="a local SMTP server that writes each message to a folder (.eml)"
    )
    sink.add_argument("--host", help="default: USHER_SMTP_HOST")
    sink.add_argument("--port", type=int, help="default: USHER_SMTP_PORT")
    sink.add_argument("--dir", help="default: <USHER_DATA_DIR>/mail")
    sink.set_defaults(run=cmd_mail_sink)
    doc = sub.add_parser("events-doc", help="regenerate docs/events.md and its JSON Schema")
    doc.add_argument("--check", action="store_true", help="exit 1 if they are stale")
    doc.set_defaults(run=cmd_events_doc)
    key = sub.add_parser("door-key", help="print a new door signing key (id:seed)")
    key.add_argument("--id", type=int, default=1, choices=range(1, 256), metavar="1-255")
    key.set_defaults(run=cmd_door_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    from services.logs import configure

    try:
        log_format = get_settings().log_format
    except RuntimeError:  # a bad setting: the command itself says which, in plain text
        log_format = "plain"
    configure(log_format)
    args = build_parser().parse_args(argv)
    run: Command = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
