"""Notification emails delivered per second for a bulk cancellation, on this machine, and in the
same run two baselines against the same SMTP server.

    python bench/emails.py [--bookings 1000] [--workers 1] [--database-url ADMIN_URL]
                           [--redis-url URL]

It creates its own database (`usher_bench_<random>`) on the PostgreSQL server of ADMIN_URL
(default: the local one), migrated by the real runner, with the demo programme and one screening
in a hall of N seats booked by N patrons. It starts the processes of a deployment: the local SMTP
sink (`usher mail-sink`, writing .eml files to a temporary folder), the relay and W workers
(`usher worker`), under a Redis prefix of its own. Then it cancels the screening and times the
emails from the commit of the cancellation to the last one marked sent; the sink's folder must
hold exactly N messages. Baselines, from this process to the same sink: the same rendered message
sent N times over 10 pooled connections (the ceiling for one Python sender), and over a new
connection each time (what pooling saves). It stops everything, drops the database and deletes
its Redis keys.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import aiosmtplib
import asyncpg
import msgspec
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.box_office import ConfirmIn, HoldIn, PatronIn, TicketIn  # noqa: E402
from schemas.catalog import AuditoriumIn, Price, ScreeningIn, SeatIn  # noqa: E402
from schemas.staff import StaffMember  # noqa: E402
from services.box_office import service as box_office  # noqa: E402
from services.catalog import service as catalog  # noqa: E402
from services.db import connect, create_pool  # noqa: E402
from services.db.migrate import apply_migrations  # noqa: E402
from services.demo import load_demo_data  # noqa: E402
from services.settings import get_settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def prepare(url: str, seats: int) -> UUID:
    """Demo data, and a screening in a hall of `seats` seats, a month from now."""
    conn = await connect(url)
    try:
        await apply_migrations(conn)
        await load_demo_data(conn, date.today())
        venue_id = await conn.fetchval("SELECT id FROM venue WHERE slug = 'riverside'")
        hall = await catalog.add_auditorium(
            conn,
            None,
            AuditoriumIn(
                venue_id,
                "bench-hall",
                "The Bench Hall",
                [
                    SeatIn(f"R{n // 25 + 1}-{n % 25 + 1}", f"R{n // 25 + 1}", n // 25 + 1,
                           n % 25 + 1, float(n % 25), float(n // 25))
                    for n in range(seats)
                ],
            ),
        )  # fmt: skip
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=hall.id,
                starts_at=datetime.now(UTC).replace(microsecond=0) + timedelta(days=30),
                prices=[Price("adult", 1500)],
                audio_languages=["fr", "ro", "zh", "nl"],
            ),
        )
    finally:
        await conn.close()
    return screening.id


async def book_everyone(pool: asyncpg.Pool, screening_id: UUID, clients: int = 8) -> int:
    """One booking of one seat per patron, for every seat of the screening."""
    settings = get_settings().box_office
    labels = [
        r["label"]
        for r in await pool.fetch(
            "SELECT label FROM seat s JOIN screening sc ON sc.auditorium_id = s.auditorium_id"
            " WHERE sc.id = $1",
            screening_id,
        )
    ]
    queue = iter(enumerate(labels))

    async def client() -> None:
        async with pool.acquire() as conn:
            for n, label in queue:
                now = datetime.now(UTC)
                hold = await box_office.make_hold(
                    conn, screening_id, HoldIn(seats=[label]), f"bench-{n}", settings, now
                )
                assert hold.token is not None
                await box_office.confirm_hold(
                    conn,
                    hold.id,
                    hold.token,
                    str(uuid4()),
                    ConfirmIn(
                        patron=PatronIn(name=f"Patron {n}", email=f"patron{n}@example.org"),
                        tickets=[TicketIn(label, "adult")],
                    ),
                    now,
                )

    await asyncio.gather(*(client() for _ in range(clients)))
    return len(labels)


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{args[0]}-{len(self.started)}.log", "wb")  # noqa: SIM115
        profile = os.environ.get("BENCH_PROFILE") if args[0] == "worker" else None
        python = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
        proc = subprocess.Popen(
            [*python, "-m", "services.cli", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(proc)
        self.names.append(f"{args[0]}{sum(n.startswith(args[0]) for n in self.names) or ''}")
        return proc

    def stop(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_for(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} did not happen within {within} s")
        await asyncio.sleep(0.05)


async def baselines(message: bytes, port: int, count: int) -> tuple[float, float]:
    """(pooled, connection per message) messages/s from this process to the sink."""
    from workers.emails.smtp import Mailer

    mail = msgspec.structs.replace(get_settings().mail, host="127.0.0.1", port=port)
    mailer = Mailer(mail)
    work = iter(range(count))

    async def pooled() -> None:
        for n in work:
            await mailer.send(message, "box-office@usher.invalid", f"base{n}@example.org")

    started = time.perf_counter()
    await asyncio.gather(*(pooled() for _ in range(10)))
    pooled_rate = count / (time.perf_counter() - started)
    await mailer.close()
    fresh = iter(range(count // 4))

    async def one_each() -> None:
        for n in fresh:
            await aiosmtplib.send(
                message,
                sender="box-office@usher.invalid",
                recipients=[f"fresh{n}@example.org"],
                hostname="127.0.0.1",
                port=port,
                start_tls=False,
                local_hostname="bench",
            )

    started = time.perf_counter()
    await asyncio.gather(*(one_each() for _ in range(10)))
    fresh_rate = (count // 4) / (time.perf_counter() - started)
    return pooled_rate, fresh_rate


async def sample_message(pool: asyncpg.Pool) -> bytes:
    """A rendered screening-cancelled email of this database, as the workers send it."""
    from workers.emails.render import compose, decode_context, render

    row = await pool.fetchrow("SELECT * FROM email LIMIT 1")
    settings = get_settings()
    context = decode_context(row["kind"], row["context"])
    return compose(
        render(row["kind"], context, settings),
        recipient=row["recipient"],
        recipient_name=row["recipient_name"],
        message_id=row["message_id"],
        settings=settings,
        now=datetime.now(UTC),
        kind=row["kind"],
    )


async def main(args: argparse.Namespace) -> None:
    name = f"usher_bench_{secrets.token_hex(4)}"
    prefix = f"usher-bench-{secrets.token_hex(4)}:"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.database_url, name)
    folder = Path(tempfile.mkdtemp(prefix="usher-bench-mail-"))
    smtp_port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "USHER_DATABASE_URL": url,
        "USHER_REDIS_URL": args.redis_url,
        "USHER_REDIS_PREFIX": prefix,
        "USHER_SMTP_HOST": "127.0.0.1",
        "USHER_SMTP_PORT": str(smtp_port),
        "USHER_SMTP_SECURITY": "none",
        "USHER_RELAY_POLL_MS": "200",
        "USHER_CONSUMER_BLOCK_MS": "200",
        "USHER_SECRET_KEY": os.environ.get("USHER_SECRET_KEY") or secrets.token_urlsafe(48),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("USHER_")})
    get_settings.cache_clear()
    processes = Processes(env, folder)
    redis = Redis.from_url(args.redis_url)
    pool: asyncpg.Pool | None = None
    try:
        screening_id = await prepare(url, args.bookings)
        pool = await create_pool(url, min_size=1, max_size=10)
        started = time.perf_counter()
        booked = await book_everyone(pool, screening_id)
        booking_s = time.perf_counter() - started
        print(f"bookings: {booked} made in {booking_s:.1f} s ({booked / booking_s:.0f}/s)")

        processes.start("mail-sink", "--dir", str(folder / "mail"))
        processes.start("relay")

        async def published() -> bool:
            return bool(
                await pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL")
            )

        await wait_for(published, 120, "publishing the bookings' events")
        for _ in range(args.workers):
            processes.start("worker")
        stream = f"{prefix}events"

        async def group_ready() -> bool:
            try:
                groups = await redis.xinfo_groups(stream)
            except Exception:
                return False
            return any(g["name"] == b"emails" for g in groups)

        await wait_for(group_ready, 60, "the emails consumer group")

        async def caught_up() -> bool:
            """Every consumer group has read the whole stream (the bookings' events)."""
            last = (await redis.xinfo_stream(stream))["last-generated-id"]
            groups = await redis.xinfo_groups(stream)
            return len(groups) >= 3 and all(
                g["last-delivered-id"] == last and g["pending"] == 0 for g in groups
            )

        await wait_for(caught_up, 300, "the workers catching up with the bookings' events")
        await asyncio.sleep(1.0)  # and their jobs (hold expiry deferrals) are queued

        manager = await pool.fetchrow(
            "SELECT id, email, name, role FROM staff_user WHERE role = 'manager'"
        )
        cpu_before = {p.pid: cpu_seconds(p.pid) for p in processes.started}
        async with pool.acquire() as conn:
            t0 = time.perf_counter()
            await catalog.cancel_screening(
                conn, StaffMember(**dict(manager)), screening_id, "bench"
            )
            committed = time.perf_counter()
        first_sent: float | None = None
        rows_at: float | None = None
        while True:
            row = await pool.fetchrow(
                "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'sent') AS sent,"
                " count(*) FILTER (WHERE status = 'failed') AS failed FROM email"
            )
            now = time.perf_counter()
            if rows_at is None and row["n"] >= booked:
                rows_at = now
            if first_sent is None and row["sent"]:
                first_sent = now
            if row["sent"] + row["failed"] >= booked:
                break
            if now - committed > 600:
                raise SystemExit(f"bench: only {row['sent']} of {booked} sent in 10 minutes")
            await asyncio.sleep(0.02)
        done = time.perf_counter()
        cpu = {
            name: (cpu_seconds(p.pid) - cpu_before[p.pid]) / booked * 1000
            for name, p in zip(processes.names, processes.started, strict=True)
        }
        files = len(list((folder / "mail").glob("*.eml")))
        retried = await pool.fetchval("SELECT count(*) FROM email WHERE attempts > 1")
        rate = booked / (done - committed)
        print(
            f"bulk cancellation of {booked} bookings, {args.workers} worker process(es):\n"
            f"  cancel transaction      {(committed - t0) * 1000:7.0f} ms\n"
            f"  rows written after      {((rows_at or done) - committed):7.2f} s\n"
            f"  first email sent after  {((first_sent or done) - committed):7.2f} s\n"
            f"  last email sent after   {done - committed:7.2f} s\n"
            f"  emails/s                {rate:7.0f}   (goal >= 200)\n"
            f"  failed {row['failed']}, retried {retried}, .eml files in the sink {files}\n"
            f"  CPU ms per email        "
            + ", ".join(f"{name} {ms:.1f}" for name, ms in cpu.items())
        )
        if files != booked or row["failed"]:
            raise SystemExit("bench: the sink does not hold exactly one email per booking")
        message = await sample_message(pool)
        pooled, fresh = await baselines(message, smtp_port, min(booked, 1000))
        print(
            f"baselines, this process to the same sink, {len(message)} byte message:\n"
            f"  10 pooled connections    {pooled:7.0f} emails/s (no database, no queue)\n"
            f"  a connection per email   {fresh:7.0f} emails/s"
        )
    finally:
        processes.stop()
        if pool is not None:
            await pool.close()
        async for key in redis.scan_iter(match=f"*{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if args.keep_logs:
            for log in await asyncio.to_thread(lambda: list(folder.glob("*.log"))):
                await asyncio.to_thread(shutil.copy, log, args.keep_logs)
        await asyncio.to_thread(shutil.rmtree, folder, True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the processes' logs there")
    asyncio.run(main(parser.parse_args()))
