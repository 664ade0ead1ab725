"""Faults under a steady load, one per test, against a private Usher (2 APIs, 2 workers, 2
relays, a private PostgreSQL and redis-server, a real SMTP server). After each, the same checks
(stack.check_invariants): no seat twice, one HoldExpired per expired hold, every outbox event in
the stream once, every email at the SMTP server (and once), every process alive, the lag back to
zero with no hand on anything; and the time it took, printed (docs/operations.md)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.integration.faults.conftest import Running
from tests.integration.faults.stack import WORKER_GRACE, exited, settled, until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]


async def _steady(usher: Running, bookings: int = 6) -> None:
    """Let the load run until it made `bookings` more bookings (a signal, not a sleep)."""
    target = usher.load.booked + bookings
    await until(lambda: usher.load.booked >= target, within=60)


async def _finish(
    usher: Running, name: str, since: float, *, may_repeat: int = 0, **figures: object
) -> None:
    """Stop the load, wait until everything caught up by itself, check; `may_repeat`: how many
    emails may arrive twice (the sends in flight of a worker killed between the server's 250
    and its commit, docs/emails.md)."""
    await usher.load.stop()
    result = await settled(usher.stack, usher.pool, usher.redis, since)
    duplicates = usher.stack.mailbox.duplicates
    assert not usher.load.failures, usher.load.failures[:5]
    assert usher.load.statuses[500] == 0
    print(
        f"\nFAULT {name}: recovered (everything caught up and checked) {result.seconds:.1f} s "
        f"after the fault ended (first held, s: {result.parts}); answers "
        f"{dict(usher.load.statuses)}; emails twice "
        f"{len(duplicates)}; {figures}"
    )
    assert len(duplicates) <= may_repeat, f"emails received twice: {duplicates}"
    usher.stack.mailbox.received.clear()  # each test counts its own
    await usher.pool.execute("DELETE FROM email")


async def test_redis_stopped_and_started_again(usher: Running) -> None:
    usher.load.start()
    await _steady(usher)
    usher.stack.redis_server.kill()
    down = time.monotonic()
    await _steady(usher, 30)  # the API sells without Redis; the events wait in the outbox
    usher.stack.redis_server.start()
    await _finish(usher, "redis stopped", time.monotonic(), down_seconds=time.monotonic() - down)


async def test_redis_restarted_empty(usher: Running) -> None:
    usher.load.start()
    await _steady(usher)
    usher.stack.redis_server.kill()
    for leftover in usher.stack.redis_server.dir.glob("**/*"):
        if leftover.is_file():
            leftover.unlink()
    usher.stack.redis_server.start()  # no stream, no groups, no jobs, no fence
    await _finish(usher, "redis restarted empty", time.monotonic())


async def test_postgresql_restarted(usher: Running) -> None:
    usher.load.start()
    await _steady(usher)
    down = time.monotonic()
    await asyncio.to_thread(usher.stack.postgres.restart)  # returns once it accepts again
    restart = time.monotonic() - down
    await _finish(usher, "postgresql restarted", time.monotonic(), restart_seconds=restart)


async def test_a_worker_killed(usher: Running) -> None:
    usher.load.start()
    await _steady(usher)
    victim = usher.stack.workers[0]
    victim.send_signal(signal.SIGKILL)
    await until(lambda: exited(victim))
    usher.stack.retire(victim)
    usher.stack.start_worker()  # as the orchestrator would
    await _finish(usher, "worker killed", time.monotonic(), may_repeat=10)


async def test_a_worker_stopped_mid_send_finishes_its_emails(usher: Running) -> None:
    mailbox = usher.stack.mailbox
    mailbox.delay = 1.0  # a slow SMTP server: each message takes a second to accept
    mailbox.sending.clear()
    usher.load.start()
    await asyncio.wait_for(mailbox.sending.wait(), timeout=60)
    before = sum(mailbox.received.values())
    victim = next(p for p in usher.stack.workers if not exited(p))
    victim.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    await until(lambda: exited(victim), within=WORKER_GRACE + 10)
    took = time.monotonic() - stopped
    assert victim.returncode == 0
    usher.stack.retire(victim)
    usher.stack.start_worker()
    mailbox.delay = 0.0
    await _finish(
        usher,
        "worker SIGTERM mid-send",
        time.monotonic(),
        stop_seconds=round(took, 2),
        received_while_stopping=sum(mailbox.received.values()) - before,
    )
    log = usher.stack.log_of[victim.pid].read_text()
    assert "stopping: waiting up to" in log  # it had jobs in hand, and let them finish
    assert "cancelling" not in log


async def test_the_leading_relay_killed(usher: Running) -> None:
    usher.load.start()
    await _steady(usher)
    for relay in list(usher.stack.relays):
        relay.send_signal(signal.SIGKILL)  # the leader is one of them; the other takes over
        await until(lambda r=relay: exited(r))
        usher.stack.retire(relay)
        usher.stack.start_relay()
        await _steady(usher, 2)
    await _finish(usher, "relays killed", time.monotonic())
