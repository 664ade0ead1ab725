"""Pure decisions of the staff dashboard: which feed entries a client wants, how they are framed
as Server-Sent Events, whether a resuming client missed trimmed entries, a hold's clock and a
screening's occupancy. No I/O and no clock reads: callers pass `now` and what they read."""

from __future__ import annotations

import re
from datetime import date, datetime
from uuid import UUID

import msgspec

from schemas.box_office import SeatCounts

# A hold with this little time left is flagged "expiring soon" on the dashboard.
EXPIRING_SOON_SECONDS = 60
STREAM_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the only line breaks of the SSE format
StreamId = tuple[int, int]
ORIGIN: StreamId = (0, 0)


def parse_stream_id(raw: str) -> StreamId:
    """`"1718000000000-3"` -> (1718000000000, 3); ValueError for anything else."""
    match = STREAM_ID.fullmatch(raw)
    if match is None:
        raise ValueError(f"not a stream id: {raw!r}")
    ms, seq = int(match[1]), int(match[2])
    if ms >= 2**64 or seq >= 2**64:
        raise ValueError(f"not a stream id: {raw!r}")
    return ms, seq


def format_stream_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def missed_entries(
    after: StreamId,
    *,
    after_present: bool,
    last_generated: StreamId | None,
    first: StreamId | None,
    length: int,
    entries_added: int | None,
) -> bool:
    """True when a client resuming after `after` may have missed entries that were trimmed from
    the stream (it must then reload its read models). Errs on the safe side: a needless resync
    costs one reload, a missed one leaves a stale screen.

    Trimming (XADD MINID) removes the oldest entries first and Usher never deletes one in the
    middle, so while the client's own entry is still there nothing after it is gone.
    `entries_added` (Redis 7+) tells whether anything was ever removed; Redis 6.2 lacks it."""
    if last_generated is None or last_generated <= after:
        return False  # nothing was ever added after `after`
    if entries_added is not None and entries_added == length:
        return False  # nothing was ever trimmed or deleted
    if after_present:
        return False
    if first is None:
        return True  # entries were added after `after`, and none is left
    return first > _successor(after)


def _successor(stream_id: StreamId) -> StreamId:
    return stream_id[0], stream_id[1] + 1


class FeedHead(msgspec.Struct, frozen=True):
    """The fields of a stream entry's event that a feed filters on."""

    type: str = ""
    aggregate_type: str = ""
    aggregate_id: str = ""
    venue_id: UUID | None = None
    screening_id: UUID | None = None


_head_decoder = msgspec.json.Decoder(FeedHead)


def decode_feed_head(raw: bytes) -> FeedHead | None:
    """The filter fields of an event, or None when the entry is not an event this code reads."""
    try:
        return _head_decoder.decode(raw)
    except msgspec.DecodeError:
        return None


class FeedFilter(msgspec.Struct, frozen=True):
    """What a feed client asked for: one venue's events, one screening's, or everything."""

    venue_id: UUID | None = None
    screening_id: UUID | None = None

    def wants(self, head: FeedHead) -> bool:
        if self.venue_id is not None and head.venue_id != self.venue_id:
            return False
        if self.screening_id is None:
            return True
        if head.screening_id == self.screening_id:
            return True
        return head.aggregate_type == "screening" and head.aggregate_id == str(self.screening_id)


def _field(name: str, value: str) -> bytes:
    """One SSE field per line of `value` (a line break inside a field would end it)."""
    return b"".join(f"{name}: {line}\n".encode() for line in _LINE_BREAK.split(value))


def sse_event(entry_id: str, event_type: str, data: str) -> bytes:
    """An event whose `id` is its stream id: a client resumes with it as Last-Event-ID."""
    return _field("id", entry_id) + _field("event", event_type) + _field("data", data) + b"\n"


def sse_cursor(entry_id: str) -> bytes:
    """An id with no data: moves the client's Last-Event-ID past entries it filtered out,
    dispatching nothing (the SSE processing model sets the id before it drops an empty event)."""
    return _field("id", entry_id) + b"\n"


def sse_comment(text: str) -> bytes:
    """A comment line: clients ignore it; it keeps proxies and idle timeouts from closing."""
    return b"".join(f": {line}\n".encode() for line in _LINE_BREAK.split(text)) + b"\n"


def sse_retry(milliseconds: int) -> bytes:
    """How long an EventSource waits before it reconnects."""
    return f"retry: {milliseconds}\n\n".encode()


class HoldClock(msgspec.Struct, frozen=True):
    age_seconds: float
    seconds_left: float
    expiring_soon: bool


def hold_clock(
    created_at: datetime, expires_at: datetime, now: datetime, soon: int = EXPIRING_SOON_SECONDS
) -> HoldClock:
    """How old a hold is, how long it has left (never below zero), and whether that is little."""
    left = max(0.0, (expires_at - now).total_seconds())
    age = max(0.0, (now - created_at).total_seconds())
    return HoldClock(round(age, 1), round(left, 1), left <= soon)


def occupancy(seats: int, held: int, booked: int, blocked: int) -> SeatCounts:
    """A screening's seats by status; the claims are counted by the caller (live ones only)."""
    return SeatCounts(
        available=max(0, seats - held - booked - blocked), held=held, booked=booked, blocked=blocked
    )


def programme_day(requested: date | None, first_upcoming: date | None, latest: date | None) -> date:
    """The day the dashboard shows: the one asked for, else the first day with a screening not
    yet over (tonight, or the coming one), else the last day that had screenings."""
    if requested is not None:
        return requested
    return first_upcoming or latest or date.min
