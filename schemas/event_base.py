"""The envelope every domain event shares: `EventHead` (decoded first, to route and dedupe) and
the tagged `Event` base. The event types are in schemas/events.py and schemas/device_events.py."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

import msgspec


class EventHead(msgspec.Struct, frozen=True):
    """The envelope alone: enough to route, deduplicate and order an event of any type."""

    type: str
    id: UUID
    version: int
    occurred_at: datetime
    aggregate_type: str
    aggregate_id: str
    venue_id: UUID | None = None
    # W3C Trace Context of the change that made the event, when tracing is on
    # (services/tracing.py): the relay, the consumers and the emails continue its trace
    traceparent: str | None = None


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event. Subclasses set `aggregate` (the kind of thing it concerns) and
    `aggregate_field` (the field that holds that thing's id)."""

    aggregate: ClassVar[str]
    aggregate_field: ClassVar[str]

    id: UUID
    occurred_at: datetime
    version: int = 1
    venue_id: UUID | None = None

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag
