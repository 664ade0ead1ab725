"""Do the worker's consumer groups keep up with the stream under a patron load?

    python bench/stream_lag.py [--seconds 40] [--patrons 6] [--code /path/to/other/checkout]

It makes a database and a Redis prefix of its own, starts a real Usher (`usher serve --workers
2`, `usher relay`, `usher worker`, `usher mail-sink`) and drives the patron load of
deploy/monitoring/snapshot.py (hold, confirm, release, cancel: every booking sends an email with
a QR code per ticket). Every 2 s it reads the stream's `entries-added` and each group's `lag`
(XINFO), and counts the entries after the group's last-delivered id by hand (XRANGE: the truth
the `lag` figure is checked against). It prints, per group, the events/s delivered to it against
the events/s that arrived during the load, the most entries it was behind, and how far XINFO's
`lag` ever was from the hand count.

`--code` runs the three processes from another checkout (say, main before a change) with this
checkout's load, for a before/after on the same machine; run both back to back, the machine is
shared and only the ratios mean something.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from redis.exceptions import ResponseError  # noqa: E402

from services.door.codes import new_key_entry  # noqa: E402

_spec = importlib.util.spec_from_file_location("snapshot", ROOT / "deploy/monitoring/snapshot.py")
assert _spec is not None
assert _spec.loader is not None
snapshot = importlib.util.module_from_spec(_spec)
sys.modules["snapshot"] = snapshot
_spec.loader.exec_module(snapshot)

SAMPLE_EVERY = 2.0
# (time, entries added, {group: (entries delivered, XINFO lag, undelivered by hand)})
Sample = tuple[float, int, dict[str, tuple[int, int, int]]]


async def sample(redis: Redis, stream: str) -> Sample:
    info = await redis.xinfo_stream(stream)
    groups: dict[str, tuple[int, int, int]] = {}
    for g in await redis.xinfo_groups(stream):
        after = b"(" + g["last-delivered-id"]
        counted = len(await redis.xrange(stream, min=after, count=1_000_000))
        # delivered: every entry added but those after the last-delivered id (nothing is trimmed
        # or deleted here; XINFO's `entries-read` is unknown for a "$" group until it reads)
        delivered = info["entries-added"] - counted
        groups[g["name"].decode()] = (delivered, g["lag"] or 0, counted)
    return time.monotonic(), info["entries-added"], groups


async def watch(redis_url: str, stream: str, done: asyncio.Event) -> list[Sample]:
    redis = Redis.from_url(redis_url)
    samples = []
    try:
        while not done.is_set():
            with contextlib.suppress(ResponseError):  # no stream yet
                samples.append(await sample(redis, stream))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), SAMPLE_EVERY)
        samples.append(await sample(redis, stream))
    finally:
        await redis.aclose()
    return samples


def report(samples: list[Sample], load_end: float) -> None:
    during = [s for s in samples if s[0] <= load_end + SAMPLE_EVERY]
    (t0, added0, groups0), (t1, added1, groups1) = during[0], during[-1]
    arrival = (added1 - added0) / (t1 - t0)
    print(f"arrival: {added1 - added0} entries in {t1 - t0:.0f} s, {arrival:.1f}/s")
    print(
        f"{'group':12} {'read/s':>8} {'ratio':>6} {'max behind':>11} {'at the end':>11} "
        f"{'|lag - count| max':>18}"
    )
    for group in sorted(groups1):
        read = (groups1[group][0] - groups0.get(group, (0, 0, 0))[0]) / (t1 - t0)
        behind = max(s[2][group][2] for s in during if group in s[2])
        off = max(abs(s[2][group][1] - s[2][group][2]) for s in samples if group in s[2])
        print(
            f"{group:12} {read:8.1f} {read / arrival:6.2f} {behind:11d} "
            f"{groups1[group][2]:11d} {off:18d}"
        )
    drained = next(
        (
            s[0] - load_end
            for s in samples
            if s[0] > load_end and all(g[2] == 0 for g in s[2].values())
        ),
        None,
    )
    print(
        "all groups caught up "
        + (f"{drained:.0f} s after the load" if drained is not None else "not within the wait")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--patrons", type=int, default=6)
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait after")
    parser.add_argument("--code", default=str(ROOT), help="the checkout the processes run")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    code = Path(args.code).resolve()
    name = f"usher_bench_lag_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{name}"))
    prefix = f"usher-bench-lag-{secrets.token_hex(3)}:"
    api_port, smtp_port = snapshot.free_port(), snapshot.free_port()

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(args.database_url)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    folder = Path(tempfile.mkdtemp(prefix="usher-bench-lag-"))
    try:
        screenings = asyncio.run(snapshot.prepare(url))
        env = {
            **os.environ,
            "PYTHONPATH": str(code),
            "USHER_DATABASE_URL": url,
            "USHER_REDIS_URL": args.redis_url,
            "USHER_REDIS_PREFIX": prefix,
            "USHER_SECRET_KEY": secrets.token_urlsafe(48),
            "USHER_DOOR_SIGNING_KEYS": new_key_entry(1),
            "USHER_TRUSTED_PROXIES": "127.0.0.1",
            "USHER_RATE_HOLDS": "100000/minute",
            "USHER_SMTP_HOST": "127.0.0.1",
            "USHER_SMTP_PORT": str(smtp_port),
        }
        usher = [sys.executable, "-P", "-m", "services.cli"]  # -P: PYTHONPATH, not the cwd
        with snapshot.processes(folder) as start:
            mail = [*usher, "mail-sink", "--port", str(smtp_port), "--dir", str(folder / "mail")]
            start("mail-sink", mail, env)
            start("api", [*usher, "serve", "--workers", "2", "--port", str(api_port)], env)
            start("relay", [*usher, "relay"], env)
            start("worker", [*usher, "worker"], env)
            api = f"http://127.0.0.1:{api_port}"
            snapshot.wait_http(f"{api}/readyz")
            print(f"code: {code}; {args.patrons} patrons for {args.seconds:.0f} s")

            async def run() -> None:
                done = asyncio.Event()
                watching = asyncio.create_task(watch(args.redis_url, f"{prefix}events", done))
                await snapshot.load(api, screenings, [(args.seconds, args.patrons)])
                load_end = time.monotonic()
                await asyncio.sleep(args.drain)
                done.set()
                report(await watching, load_end)

            asyncio.run(run())
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(snapshot._forget_redis(args.redis_url, prefix))
        if args.keep:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
