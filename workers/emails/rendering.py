"""Rendering emails away from the event loop: `render` (workers/emails/render.py) is CPU work, a
QR code per ticket at ~15 ms each, and the worker's event loop also runs the consumer groups.
Rendered in the same process (even in a thread: the GIL), a stream of bookings starved the
groups and their lag grew (docs/streams.md, "Lag"). So emails are rendered in a separate
process; should that process die, the email is rendered here instead and the next one starts
a new process. Should the worker die (killed: it cannot stop its renderers), each renderer
leaves too: it watches the process that started it (they waited on its queue for ever)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from services.settings import Settings
from workers.emails.kinds import KINDS
from workers.emails.letters import MailContext
from workers.emails.render import Rendered, render

log = logging.getLogger("usher.emails")

# renderer processes per worker: its CPUs but one, at most this many (a container often sees
# every core of its node; more worker processes or pods render more)
RENDERERS_MAX = 2

PARENT_CHECK_SECONDS = 1.0  # how often a renderer looks whether its worker is still there

_pool: ProcessPoolExecutor | None = None


def _leave_with(worker: int) -> None:
    """In each renderer process, first: exit once the worker that started it is gone (it is then
    some other process's child). A thread, as the renderer blocks on the worker's queue."""

    def watch() -> None:
        while os.getppid() == worker:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="worker-watch", daemon=True).start()


def _renderers() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # "spawn": a fresh interpreter, not a fork of this one's threads and sockets
        workers = max(1, min(len(os.sched_getaffinity(0)) - 1, RENDERERS_MAX))
        _pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_leave_with,
            initargs=(os.getpid(),),
        )
    return _pool


async def render_apart(kind: str, context: MailContext, settings: Settings) -> Rendered:
    """`render(kind, context, settings)`, in a renderer process when the email carries tickets
    (QR codes; the others take ~1 ms, less than the trip); its exceptions are render's."""
    global _pool
    if not KINDS[kind].tickets:
        return render(kind, context, settings)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_renderers(), render, kind, context, settings)
    except BrokenProcessPool:
        log.warning("the email renderer process died; rendering in the worker itself")
        _pool = None
        return render(kind, context, settings)


def stop_renderers() -> None:
    """At the worker's shutdown (and harmless when none was started)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
