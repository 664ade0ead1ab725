from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import FilmPublished, decode_event, decode_head, encode_event
from services.errors import InvalidParameter
from services.ids import uuid7
from services.pagination import decode_cursor, encode_cursor


def test_uuid7_is_version_7_and_strictly_increasing():
    ids = [uuid7() for _ in range(5000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_cursor_round_trip(at, key):
    cursor = encode_cursor(at, str(key))
    assert decode_cursor(cursor, (datetime, UUID)) == (at, key)


@pytest.mark.parametrize(
    "cursor", ["", "%%%", "bm90IGpzb24", encode_cursor(1, 2, 3), encode_cursor("x", "y")]
)
def test_a_tampered_cursor_is_a_bad_query_parameter(cursor):
    with pytest.raises(InvalidParameter) as refused:
        decode_cursor(cursor, (datetime, UUID))
    assert refused.value.status == 400
    assert refused.value.extra["errors"][0]["source"] == "query"


def test_events_round_trip_and_carry_their_aggregate():
    event = FilmPublished(
        id=uuid7(), occurred_at=datetime.now(UTC), film_id=uuid7(), slug="here", title="HERE"
    )
    raw = encode_event(event)
    head = decode_head(raw)
    assert head.type == "film.published"
    assert head.aggregate_type == "film"
    assert head.aggregate_id == str(event.film_id)
    assert decode_event(raw) == event


def test_an_unknown_event_type_is_skipped_not_fatal():
    raw = msgspec.json.encode(
        {
            "type": "film.teleported",
            "id": str(uuid7()),
            "version": 3,
            "occurred_at": datetime.now(UTC).isoformat(),
            "aggregate_type": "film",
            "aggregate_id": "x",
            "new_field": [1, 2],
        }
    )
    assert decode_event(raw) is None


def test_a_newer_known_event_with_extra_fields_still_decodes():
    event = FilmPublished(
        id=uuid7(), occurred_at=datetime.now(UTC), film_id=uuid7(), slug="here", title="HERE"
    )
    body = msgspec.json.decode(encode_event(event))
    body["poster_url"] = "https://example.org/poster.jpg"
    assert decode_event(msgspec.json.encode(body)) == event
