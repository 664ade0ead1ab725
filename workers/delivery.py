"""The shapes a stream handler is written against: `Consumer` (one consumer group) and
`Delivery` (what a handler gets beside the event). workers/registry.py lists the consumers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis

from schemas.events import Event
from services.settings import Settings
from workers.jobs import enqueue


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event delivered to one consumer group.

    `conn` is inside the transaction that also records (group, event id) as processed: write the
    handler's effect there and it happens exactly once, however often the event is delivered.
    """

    conn: asyncpg.Connection
    group: str
    event_id: UUID
    stream_id: str
    settings: Settings
    arq: ArqRedis | None = None

    async def enqueue(
        self, function: str, *args: Any, key: object = None, defer_by: timedelta | None = None
    ) -> bool:
        """Hand work that needs retries or a delay to an arq job, once per event (or `key`).

        The job is enqueued before this transaction commits: if the handler then fails, the
        re-delivery finds the job already there. Jobs must be idempotent anyway (arq may run
        one twice)."""
        if self.arq is None:
            raise RuntimeError("this consumer runs without an arq connection")
        return await enqueue(
            self.arq,
            self.settings.redis,
            function,
            *args,
            key=self.event_id if key is None else key,
            defer_by=defer_by,
        )


Handler = Callable[[Delivery, Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Consumer:
    """A consumer group on the events stream and the handler it runs for each event.

    `types`: the event classes it wants (empty: every type this code knows); others are
    acknowledged without a call. `start`: where a new group begins, "0" for everything still in
    the stream, "$" for events published from now on (say, emails that must not go out late).
    """

    group: str
    handle: Handler
    types: tuple[type[Event], ...] = ()
    start: str = "0"
    type_names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type_names", frozenset(t.type_name() for t in self.types))

    def wants(self, type_name: str) -> bool:
        return not self.type_names or type_name in self.type_names
