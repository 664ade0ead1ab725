"""Pure decisions about the programme: no I/O, no clock reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from schemas.catalog import SeatIn, Subtitles
from services.errors import InvalidInput

# A screening starts within these years: wide enough for any programme and its archive, narrow
# enough that its end, its local time and PostgreSQL's timestamps all exist (year 1 has no
# local time west of UTC; year 9999 has no end).
FIRST_YEAR, LAST_YEAR = 1900, 2199


def screening_span(
    starts_at: datetime, runtime_minutes: int, trailer_minutes: int, cleaning_minutes: int
) -> tuple[datetime, datetime]:
    """(ends_at, occupied_until): the film ends after trailers and runtime; the auditorium is
    free again after its cleaning time. A start outside FIRST_YEAR..LAST_YEAR is refused."""
    if not FIRST_YEAR <= starts_at.year <= LAST_YEAR:  # as sent: converting may overflow
        raise InvalidInput(
            f"a screening starts between {FIRST_YEAR} and {LAST_YEAR}",
            field="starts_at",
            reason="out of range",
        )
    ends_at = starts_at + timedelta(minutes=trailer_minutes + runtime_minutes)
    return ends_at, ends_at + timedelta(minutes=cleaning_minutes)


def local_view(starts_at: datetime, time_zone: str) -> tuple[date, str]:
    """The start as the venue's patrons read it: its local date and ISO time with offset."""
    local = starts_at.astimezone(ZoneInfo(time_zone))
    return local.date(), local.isoformat()


def check_time_zone(name: str) -> str:
    if name not in _zones():
        raise InvalidInput(
            f"{name!r} is not an IANA time zone", field="time_zone", reason="unknown time zone"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - listed but broken
        raise InvalidInput(str(exc), field="time_zone") from exc
    return name


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def check_features(
    features: list[str], subtitles: Subtitles | None, hearing_loop: bool
) -> list[str]:
    """The screening's features, checked against its auditorium and subtitles; sorted, unique.

    A hearing loop is advertised only where the auditorium has one (and always where it has);
    `subtitled` needs subtitle details, and `open_captions` open ones.
    """
    chosen = set(features)
    if "hearing_loop" in chosen and not hearing_loop:
        index = features.index("hearing_loop")
        raise InvalidInput(
            "this auditorium has no hearing loop",
            field=f"features[{index}]",
            reason="the auditorium has no hearing loop",
        )
    if hearing_loop:
        chosen.add("hearing_loop")
    if "subtitled" in chosen and subtitles is None:
        raise InvalidInput(
            "a subtitled screening needs its subtitle language",
            field="subtitles",
            reason="required when features include subtitled",
        )
    if subtitles is not None:
        chosen.add("subtitled")
    if "open_captions" in chosen and (subtitles is None or subtitles.mode != "open"):
        raise InvalidInput(
            "open captions need open subtitles",
            field="subtitles.mode",
            reason="must be open when features include open_captions",
        )
    return sorted(chosen)


def check_seat_map(seats: list[SeatIn]) -> None:
    """Labels are unique, and no two seats share a row and position."""
    labels: set[str] = set()
    places: set[tuple[int, int]] = set()
    for index, seat in enumerate(seats):
        if seat.label in labels:
            raise InvalidInput(
                f"seat label {seat.label!r} appears twice",
                field=f"seats[{index}].label",
                reason="duplicate label",
            )
        place = (seat.row_number, seat.position)
        if place in places:
            raise InvalidInput(
                f"two seats at row {seat.row_number}, position {seat.position}",
                field=f"seats[{index}].position",
                reason="duplicate row and position",
            )
        labels.add(seat.label)
        places.add(place)


def check_unique(values: list[str], field: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise InvalidInput(
                f"{value!r} is listed twice", field=f"{field}[{index}]", reason="duplicate"
            )
        seen.add(value)


def coming_friday(today: date) -> date:
    """The first Friday after today: where a listing's Friday-to-Tuesday run (and the demo
    programme) starts."""
    return today + timedelta(days=(4 - today.weekday()) % 7 or 7)
