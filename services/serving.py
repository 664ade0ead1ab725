"""The API's processes, each listening on a socket of its own.

uvicorn's own way to run several workers binds one socket in the parent and hands it to every
worker: they all take connections from one queue, and whichever is awake takes most of them.
Measured here (bench/door.py, 20 doors on two API processes): 15-17 of the 20 keep-alive
connections landed on one process, which ran out of CPU and database connections while the
other idled, and every scan it served waited. On Linux each process now binds its own socket
to the port with SO_REUSEPORT, and the kernel spreads new connections over them by a hash of
the client's address and port. The parent binds one more (never listening: only listening
sockets are handed connections) to hold the port and to learn it when asked for port 0.

uvicorn (0.54) has no setting for this: its supervisor makes `Process` objects by the module's
global name, so that one class is replaced there (`run_workers`); the supervisor itself, which
restarts a worker that died, is uvicorn's own.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors import multiprocess

REUSE_PORT = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) in the port's SO_REUSEPORT group; not listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class _OwnSocketProcess(multiprocess.Process):
    """A worker that listens on a socket of its own rather than the parent's."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        # runs in the worker (a spawned process, where coverage does not look)
        super().target([bind(self.config.host, self.config.port)])


def run_workers(config: uvicorn.Config) -> None:
    """Serve with `config.workers` processes, each on a socket of its own (Linux only)."""
    holder = bind(config.host, config.port)
    config.port = holder.getsockname()[1]
    multiprocess.Process = _OwnSocketProcess  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        holder.close()
