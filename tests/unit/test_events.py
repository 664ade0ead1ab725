"""Event contracts and the backbone's pure parts: no servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import msgspec
import pytest

from schemas.events import (
    EVENT_TYPES,
    ScreeningCancelled,
    ScreeningUpdated,
    decode_event,
    decode_head,
    encode_event,
)
from services.ids import uuid7
from services.settings import RedisSettings
from workers import event_docs
from workers.delivery import Consumer
from workers.jobs import deserialize, job_id, serialize
from workers.last_event import stream_position


def test_generated_event_docs_are_up_to_date() -> None:
    """Fails after an event type changes until `usher events-doc` is run."""
    assert event_docs.stale() == [], "run `usher events-doc` and commit docs/events.*"


def test_the_json_schema_describes_every_event_type() -> None:
    schema = json.loads(event_docs.SCHEMA.read_text())
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    cancelled = schema["$defs"]["ScreeningCancelled"]
    assert cancelled["properties"]["aggregate_type"] == {"const": "screening"}
    assert {"aggregate_id", "id", "type", "occurred_at"} <= set(cancelled["required"])
    assert cancelled["properties"]["occurred_at"]["format"] == "date-time"


def test_an_event_round_trips_in_its_flat_wire_form() -> None:
    event = ScreeningCancelled(
        id=uuid7(), occurred_at=datetime.now(UTC), screening_id=uuid7(), reason="flood"
    )
    raw = encode_event(event)
    wire = json.loads(raw)
    assert wire["type"] == "screening.cancelled"
    assert wire["aggregate_type"] == "screening"
    assert wire["aggregate_id"] == str(event.screening_id)
    assert decode_event(raw) == event
    assert decode_head(raw).id == event.id


def test_a_newer_type_decodes_its_envelope_and_is_skipped() -> None:
    raw = msgspec.json.encode(
        {
            "type": "screening.teleported",
            "id": str(uuid7()),
            "version": 3,
            "occurred_at": datetime.now(UTC).isoformat(),
            "aggregate_type": "screening",
            "aggregate_id": "x",
            "planet": "Mars",
        }
    )
    assert decode_head(raw).type == "screening.teleported"
    assert decode_event(raw) is None


def test_a_consumer_wants_its_types_or_all() -> None:
    async def handle(delivery: object, event: object) -> None:
        return None

    assert Consumer("all", handle).wants("anything.at_all")
    picky = Consumer("picky", handle, types=(ScreeningCancelled,))
    assert picky.wants("screening.cancelled")
    assert not picky.wants(ScreeningUpdated.type_name())


def test_arq_values_travel_as_msgpack_and_exceptions_as_text() -> None:
    job = {"t": 1, "f": "remember", "a": [str(uuid7())], "k": {}, "et": 1}
    assert deserialize(serialize(job)) == job
    result = deserialize(serialize({"r": ValueError("no seats"), "s": False}))
    assert result["r"] == "ValueError: no seats"
    with pytest.raises(TypeError, match="plain data"):
        serialize({"r": object()})


def test_job_ids_carry_the_prefix() -> None:
    event_id = UUID(int=7)
    assert job_id(RedisSettings(url="redis://x", prefix="p:"), "mail", event_id) == (
        f"p:mail:{event_id}"
    )


@pytest.mark.parametrize(
    ("stream_id", "position"),
    [("1700000000000-0", (1700000000000, 0)), ("5-12", (5, 12)), ("7", (7, 0))],
)
def test_stream_ids_order_as_pairs(stream_id: str, position: tuple[int, int]) -> None:
    assert stream_position(stream_id) == position
