"""Knowing that the API process is shutting down, for the responses that would otherwise hold it
up: an open live feed ends at once (its client reconnects, elsewhere, with its Last-Event-ID)
instead of waiting for uvicorn's graceful-shutdown timeout to cancel it.

Uvicorn tells an application nothing before it waits for the responses in progress: on SIGTERM
or SIGINT it stops listening, closes idle connections and waits (USHER_SHUTDOWN_GRACE_SECONDS,
then it cancels what is left); the lifespan's shutdown comes only after. So the lifespan wraps
the handlers uvicorn installed for those signals: each still runs, after setting `stopping`.
A signal whose handler is not a Python function (not run under uvicorn, or off the main thread)
is left alone, and the old handlers come back when the lifespan ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    """`stopping` is set when the process is asked to stop."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
        self._handler: Callable[[int, FrameType | None], None] | None = None

    def install(self) -> None:
        """Wrap the current SIGTERM and SIGINT handlers (call on the serving loop)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()

        def handler(signum: int, frame: FrameType | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                loop.call_soon_threadsafe(self.stopping.set)
            self._previous[signum](signum, frame)

        self._handler = handler
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if callable(previous):
                self._previous[signum] = previous
                signal.signal(signum, handler)

    def restore(self) -> None:
        """Put the wrapped handlers back (those nobody replaced since)."""
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) is self._handler:
                signal.signal(signum, previous)
        self._previous.clear()
