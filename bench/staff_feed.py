"""The staff feed's fan-out: stream -> SSE client latency for many clients at once, and what a
stalled client costs the others.

    python bench/staff_feed.py [--rate 100] [--seconds 8] [--clients 1,10,50]

It starts a real `usher serve` process on a database and a Redis prefix of its own (both removed
at the end), XADDs events to the events stream at `--rate` per second (as the relay does), and
measures, for each number of feed clients (all in one separate reader process, each on its own
HTTP connection), the time from just before the XADD to the client parsing the event:

1. baseline: one plain XREAD reader in the same reader process, no HTTP: the floor on this
   machine for "added to the stream -> read";
2. feed: N clients of GET /v1/staff/events;
3. feed with a stalled client: the same N plus one that asked for the feed and reads nothing.

Same machine, same clock. Figures are milliseconds; `lost` counts (client, event) pairs that
never arrived within the run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import msgspec  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from schemas.events import ScreeningUpdated, encode_event  # noqa: E402
from services.db.migrate import apply_migrations  # noqa: E402
from services.settings import get_settings  # noqa: E402
from services.staff.auth import issue_token, jwt_auth  # noqa: E402
from services.staff.store import create_staff  # noqa: E402
from tests.sse import Reader  # noqa: E402

SCREENINGS = [uuid4() for _ in range(8)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _clients(
    url: str,
    token: str,
    redis_url: str,
    stream: str,
    n: int,
    stalled: bool,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    arrivals: list[dict[str, float]] = [{} for _ in range(n + 1)]  # the last one: plain XREAD
    ready = 0
    all_ready = asyncio.Event()
    stop = asyncio.Event()

    async def feed(k: int) -> None:
        nonlocal ready
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=url, timeout=None) as http,
            http.stream("GET", "/v1/staff/events", headers=headers) as response,
        ):
            reader = Reader()
            async for chunk in response.aiter_text():
                now = time.time()
                for message in reader.feed(chunk):
                    if message.event == "ready":
                        ready += 1
                        if ready == n:
                            all_ready.set()
                    elif message.event == "screening.updated":
                        arrivals[k][msgspec.json.decode(message.data)["id"]] = now
                if stop.is_set():
                    return

    async def plain() -> None:
        redis = Redis.from_url(redis_url)
        last = "$"
        while not stop.is_set():
            reply = await redis.xread({stream: last}, count=1000, block=200)
            now = time.time()
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    arrivals[n][fields[b"id"].decode()] = now
        await redis.aclose()

    sock = None
    if stalled:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect((host, port))
        sock.sendall(
            f"GET /v1/staff/events HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
    tasks = [asyncio.create_task(feed(k)) for k in range(n)]
    tasks.append(asyncio.create_task(plain()))
    await all_ready.wait()
    out.put("ready")
    await asyncio.get_running_loop().run_in_executor(None, out.get)  # "stop" from the parent
    stop.set()
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if sock:
        sock.close()
    out.put(arrivals)


def _client_process(*args: object) -> None:
    asyncio.run(_clients(*args))  # type: ignore[arg-type]


async def _write(redis: Redis, stream: str, rate: float, seconds: float) -> dict[str, float]:
    sent: dict[str, float] = {}
    interval = 1 / rate
    start = time.monotonic()
    for k in range(int(rate * seconds)):
        delay = start + k * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        event = ScreeningUpdated(
            id=uuid4(), occurred_at=datetime.now(UTC), screening_id=SCREENINGS[k % 8]
        )
        sent[str(event.id)] = time.time()
        await redis.xadd(
            stream, {"id": str(event.id), "type": event.type_name(), "event": encode_event(event)}
        )
    return sent


def _start_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`usher serve` on `port`, once /healthz answers."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the API server did not start")


def _summary(name: str, sent: dict[str, float], arrivals: list[dict[str, float]]) -> str:
    latencies = [
        (seen[event_id] - at) * 1000
        for seen in arrivals
        for event_id, at in sent.items()
        if event_id in seen
    ]
    lost = len(sent) * len(arrivals) - len(latencies)
    if not latencies:
        return f"{name:<34} no events arrived"
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{name:<34} p50 {q[49]:7.1f}  p95 {q[94]:7.1f}  p99 {q[98]:7.1f}  "
        f"max {max(latencies):7.1f}  lost {lost}"
    )


async def _run(args: argparse.Namespace, url: str, token: str, redis_url: str, stream: str) -> None:
    redis = Redis.from_url(redis_url)
    print(f"rate {args.rate}/s for {args.seconds} s; latency in ms, XADD -> parsed")
    for n in args.clients:
        for stalled in (False, True):
            ctx = mp.get_context("spawn")
            queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
            proc = ctx.Process(
                target=_client_process, args=(url, token, redis_url, stream, n, stalled, queue)
            )
            proc.start()
            assert queue.get(timeout=60) == "ready"
            sent = await _write(redis, stream, args.rate, args.seconds)
            await asyncio.sleep(1)
            queue.put("stop")
            arrivals = queue.get(timeout=60)
            proc.join(timeout=30)
            label = f"{n} clients" + (" + 1 stalled" if stalled else "")
            if not stalled:
                print(_summary("baseline (plain XREAD)", sent, arrivals[-1:]))
            print(_summary(f"feed, {label}", sent, arrivals[:-1]))
    await redis.aclose()


async def main(args: argparse.Namespace) -> None:
    base = get_settings()
    if not base.auth.secret:  # serve refuses to start without a key of its own
        secret = secrets.token_urlsafe(48)
        base = msgspec.structs.replace(base, auth=msgspec.structs.replace(base.auth, secret=secret))
    admin_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"usher_bench_{secrets.token_hex(4)}"
    prefix = f"usher-bench-{secrets.token_hex(4)}:"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    database_url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "USHER_DATABASE_URL": database_url,
        "USHER_REDIS_URL": redis_url,
        "USHER_REDIS_PREFIX": prefix,
        "USHER_SECRET_KEY": base.auth.secret,
    }
    # the staff member's account is read once a token arrives (services/staff/status.py)
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)
        member = await create_staff(
            conn, email="bench@usher.test", name="Bench", role="staff", password_hash="-"
        )
    finally:
        await conn.close()
    server = await asyncio.to_thread(_start_server, port, env)
    redis = Redis.from_url(redis_url)
    try:
        token, _ = issue_token(jwt_auth(base), member)
        await _run(args, url, token, redis_url, f"{prefix}events")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        async for key in redis.scan_iter(match=f"{prefix}*"):
            await redis.delete(key)
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument(
        "--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 50]
    )
    asyncio.run(main(parser.parse_args()))
