"""Where an online scan's time goes: bench/door.py's closed loop (20 doors scanning as fast as
they can), after a round that warms the API's connections, measured three ways at once:

- the CPU each process spent per scan (from /proc): the API processes, the PostgreSQL backends
  serving them and the relay, the relay, and this bench's own 20 doors;
- what PostgreSQL's busy backends of the bench database wait on (pg_stat_activity sampled every
  2 ms): "CPU" a backend running, LWLock/WALWrite and IO/WALSync a commit waiting for the WAL's
  flush, Lock/object the cluster-wide lock a transaction that sent a NOTIFY holds through its
  commit, Lock/transactionid another transaction's row, Client/ClientRead a backend in a
  transaction waiting for the API's next statement;
- with `--workers 0` (the default), one API process under cProfile counting CPU time: its
  profile by own and by cumulative time.

    python bench/door_profile.py [--doors 20] [--rounds 3] [--workers 0|N] [--top 25] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.door import (  # noqa: E402
    Bench,
    door_connections,
    forget_admissions,
    line,
    open_bench,
    scan_all,
)
from bench.holds import Http, Timings, start_api  # noqa: E402

_SAMPLE = """
    SELECT coalesce(wait_event_type || '/' || wait_event, 'CPU'), state
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND state IN ('active', 'idle in transaction') AND backend_type = 'client backend'
"""


async def sample_waits(url: str, stop: asyncio.Event) -> tuple[collections.Counter[str], int]:
    """What the bench database's busy backends wait on, every 2 ms until `stop`; and the
    number of samples."""
    seen: collections.Counter[str] = collections.Counter()
    samples = 0
    conn = await asyncpg.connect(url, server_settings={"application_name": "door_profile"})
    try:
        while not stop.is_set():
            samples += 1
            for wait, state in await conn.fetch(_SAMPLE):
                seen["idle in transaction" if state != "active" else wait] += 1
            await asyncio.sleep(0.002)
    finally:
        await conn.close()
    return seen, samples


# cProfile's default clock is the wall clock: on a busy machine a function that writes to a
# socket is charged for the time the scheduler gives the CPU to whoever it woke. This profile
# counts the process's CPU time instead.
_PROFILED = """
import cProfile, runpy, sys, time
profile = cProfile.Profile(time.process_time)
sys.argv = ["usher", *sys.argv[2:]]
try:
    profile.runcall(runpy.run_module, "services.cli", run_name="__main__")
except (KeyboardInterrupt, SystemExit):
    pass
finally:
    profile.dump_stats(sys.argv_out)
"""


def start_profiled_api(env: dict[str, str], port: int, out: str) -> subprocess.Popen[bytes]:
    """One API process (uvicorn runs a single worker in its own process) under cProfile."""
    code = _PROFILED.replace("sys.argv_out", repr(out))
    return subprocess.Popen(
        [
            *(sys.executable, "-c", code, "-"),
            *("serve", "--port", str(port), "--workers", "1", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


async def run(args: argparse.Namespace) -> None:
    out = args.out or os.path.join(tempfile.mkdtemp(prefix="usher-door-prof-"), "api.prof")

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        if args.workers:
            return start_api(env, args.port, args.workers)
        return start_profiled_api(env, args.port, out)

    async with open_bench(args, start) as bench:
        await profile(bench, args)
        if args.workers:
            return
        # uvicorn raises a SIGTERM again once it has shut down, which would end the process
        # before cProfile writes; after a SIGINT cProfile writes, then the process ends
        os.kill(bench.server.pid, signal.SIGINT)
        bench.server.wait()
    stats = pstats.Stats(out)
    stats.strip_dirs()
    for order in ("tottime", "cumulative"):
        print(f"\n--- the API process, by {order} ---")
        stats.sort_stats(order).print_stats(args.top)
    print(f"profile written to {out}")


def _cpu(pid: int) -> float:
    """CPU seconds (user and system) of a process, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's workers)."""
    found, todo = [], [pid]
    while todo:
        at = todo.pop()
        found.append(at)
        for task in Path(f"/proc/{at}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return found


async def _cpu_by_part(bench: Bench, conn: asyncpg.Connection) -> dict[str, float]:
    backends = [
        row["pid"]
        for row in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'usher%'"
        )
    ]
    return {
        "API processes": sum(_cpu(pid) for pid in _tree(bench.server.pid)),
        "PostgreSQL backends": sum(_cpu(pid) for pid in backends),
        "relay": sum(_cpu(pid) for pid in _tree(bench.relay.pid)),
        "bench client (20 doors)": time.process_time(),
    }


async def profile(bench: Bench, args: argparse.Namespace) -> None:
    """A first round to warm the API's connections, then `rounds` measured rounds."""
    async with door_connections(bench, args.doors) as doors:
        await _profile(bench, args, doors)


async def _profile(bench: Bench, args: argparse.Namespace, doors: list[Http]) -> None:
    await scan_all(bench, bench.tickets, doors, "admitted", None)
    conn = await asyncpg.connect(bench.url, server_settings={"application_name": "door_profile"})
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_waits(bench.url, stop))
    spent: collections.Counter[str] = collections.Counter()
    timings = Timings()
    took = 0.0
    for _ in range(args.rounds):
        await forget_admissions(bench)
        before = await _cpu_by_part(bench, conn)
        rate, round_timings = await scan_all(bench, bench.tickets, doors, "admitted", None)
        after = await _cpu_by_part(bench, conn)
        spent.update({part: after[part] - before[part] for part in after})
        timings.latencies += round_timings.latencies
        took += len(bench.tickets) / rate
    stop.set()
    waits, samples = await sampler
    await conn.close()
    scans = len(timings.latencies)
    print(line(f"admitting, {args.rounds} warm rounds ({scans} scans)", scans / took, timings))
    print(f"\n--- CPU per scan (ms; {scans} scans in {took:.1f} s) ---")
    for part, seconds in spent.most_common():
        print(f"{seconds / scans * 1000:7.2f}  {part}")
    print(f"{sum(spent.values()) / scans * 1000:7.2f}  all of them ({os.cpu_count()} CPUs)")
    total = sum(waits.values()) or 1
    print(
        "\n--- PostgreSQL backends of the bench database: share of samples "
        f"(on average {total / max(samples, 1):.1f} busy) ---"
    )
    for wait, count in waits.most_common():
        print(f"{count / total:6.1%}  {wait}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--doors", type=int, default=20)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--workers", type=int, default=0, help="API processes without cProfile (0: one, profiled)"
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    args.seconds = 0.0
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
