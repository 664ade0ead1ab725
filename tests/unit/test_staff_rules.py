"""The staff dashboard's pure rules: stream ids, the resync decision, feed filters, SSE framing,
hold clocks and occupancy."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import HoldReleased, ScreeningUpdated, encode_event
from services.staff import rules
from tests.sse import parse

IDS = st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))


@given(IDS)
def test_stream_ids_round_trip(stream_id: tuple[int, int]) -> None:
    assert rules.parse_stream_id(rules.format_stream_id(stream_id)) == stream_id


@pytest.mark.parametrize(
    "raw",
    ["", "0", "1-", "-1", "1-2-3", "a-1", " 1-2", "1-2\n", "$", "+", "18446744073709551616-0"],
)
def test_anything_else_is_not_a_stream_id(raw: str) -> None:
    with pytest.raises(ValueError, match="not a stream id"):
        rules.parse_stream_id(raw)


def _missed(after: tuple[int, int], **state: object) -> bool:
    defaults: dict[str, object] = {
        "after_present": False,
        "last_generated": (100, 0),
        "first": (50, 0),
        "length": 10,
        "entries_added": 20,
    }
    return rules.missed_entries(after, **{**defaults, **state})  # type: ignore[arg-type]


def test_nothing_missed_when_nothing_was_added_since() -> None:
    assert not _missed((100, 0))
    assert not _missed((120, 0))
    assert not _missed((5, 0), last_generated=None, first=None, length=0, entries_added=None)


def test_nothing_missed_when_nothing_was_ever_trimmed() -> None:
    assert not _missed((1, 0), entries_added=10, length=10)


def test_missed_when_entries_after_the_cursor_were_trimmed() -> None:
    assert _missed((10, 0))  # the first entry left is far after the client's
    assert _missed((10, 0), first=None, length=0)  # all trimmed, some were added after it


def test_not_missed_while_the_clients_own_entry_is_still_there() -> None:
    assert not _missed((60, 0), after_present=True)


def test_not_missed_when_the_next_entry_is_still_there() -> None:
    assert not _missed((50, 0), first=(50, 1))
    assert not _missed((60, 0))  # the client is past the first entry left
    assert _missed((50, 0), first=(50, 2))


def test_redis_62_without_entries_added_errs_on_the_safe_side() -> None:
    assert _missed((10, 0), entries_added=None)
    assert not _missed((50, 0), entries_added=None)


SCREENING = UUID("01900000-0000-7000-8000-000000000001")
VENUE = UUID("01900000-0000-7000-8000-0000000000aa")


def _head(event: object) -> rules.FeedHead:
    head = rules.decode_feed_head(encode_event(event))  # type: ignore[arg-type]
    assert head is not None
    return head


def test_feed_filters() -> None:
    now = datetime.now(UTC)
    released = _head(
        HoldReleased(
            id=uuid4(),
            occurred_at=now,
            venue_id=VENUE,
            hold_id=uuid4(),
            screening_id=SCREENING,
            seat_ids=[],
            seat_labels=[],
            by="staff",
        )
    )
    updated = _head(ScreeningUpdated(id=uuid4(), occurred_at=now, screening_id=SCREENING))
    other = _head(ScreeningUpdated(id=uuid4(), occurred_at=now, screening_id=uuid4()))
    everything = rules.FeedFilter()
    one_screening = rules.FeedFilter(screening_id=SCREENING)
    one_venue = rules.FeedFilter(venue_id=VENUE)
    assert all(everything.wants(h) for h in (released, updated, other))
    assert one_screening.wants(released)
    assert one_screening.wants(updated)
    assert not one_screening.wants(other)
    assert one_venue.wants(released)
    assert not one_venue.wants(updated)  # no venue on this event
    assert not rules.FeedFilter(venue_id=uuid4(), screening_id=SCREENING).wants(released)


def test_undecodable_entries_have_no_head() -> None:
    assert rules.decode_feed_head(b"not json") is None
    assert rules.decode_feed_head(b'{"venue_id": "nope"}') is None
    assert rules.decode_feed_head(b'{"type": "new.kind", "extra": 1}') == rules.FeedHead(
        type="new.kind"
    )


@given(
    entry=IDS,
    event_type=st.from_regex(r"^[a-z_.]{1,30}$", fullmatch=True),
    data=st.text(alphabet=st.characters(blacklist_categories=["Cs"])),
)
def test_a_framed_event_parses_back_as_sent(
    entry: tuple[int, int], event_type: str, data: str
) -> None:
    """What the page's parser (and tests/sse.py, which follows the same spec) reads back: the
    data, with its line breaks as newlines."""
    entry_id = rules.format_stream_id(entry)
    messages = parse(rules.sse_event(entry_id, event_type, data).decode())
    expected = re.sub(r"\r\n|\r", "\n", data)
    assert [(m.id, m.event, m.data) for m in messages] == [(entry_id, event_type, expected)]


def test_cursor_lines_and_comments_dispatch_nothing_but_move_the_id() -> None:
    text = (
        rules.sse_retry(1000)
        + rules.sse_comment("keep-alive")
        + rules.sse_event("1-1", "hold.expired", '{"a": 1}')
        + rules.sse_cursor("7-0")
        + rules.sse_comment("two\nlines")
    ).decode()
    messages = parse(text)
    assert [(m.id, m.event, m.data) for m in messages] == [("1-1", "hold.expired", '{"a": 1}')]
    assert parse(text, with_cursor=True)[-1].id == "7-0"


def test_hold_clock() -> None:
    made = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
    expires = made + timedelta(minutes=10)
    early = rules.hold_clock(made, expires, made + timedelta(seconds=30))
    assert (early.age_seconds, early.seconds_left, early.expiring_soon) == (30.0, 570.0, False)
    late = rules.hold_clock(made, expires, expires - timedelta(seconds=59.96))
    assert late.expiring_soon
    assert late.seconds_left == 60.0
    assert rules.hold_clock(made, expires, expires + timedelta(seconds=5)).seconds_left == 0.0
    assert rules.hold_clock(made, expires, made, soon=600).expiring_soon


def test_occupancy_counts_the_rest_as_available() -> None:
    counts = rules.occupancy(92, held=2, booked=10, blocked=4)
    assert msgspec.to_builtins(counts) == {"available": 76, "held": 2, "booked": 10, "blocked": 4}
    assert rules.occupancy(2, 1, 1, 1).available == 0


def test_programme_day() -> None:
    friday, monday = date(2026, 11, 27), date(2026, 11, 30)
    assert rules.programme_day(monday, friday, monday) == monday
    assert rules.programme_day(None, friday, monday) == friday
    assert rules.programme_day(None, None, monday) == monday
