"""Pure decisions about access devices: which kinds a screening offers, how long a unit is kept
for a loan, what a check-out, a return or a change of state may do, and how many units US rules
ask of a venue. No I/O and no clock reads: callers pass `now` and the facts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from schemas.access import DEVICE_KINDS, DeviceKind, Requirements
from services.errors import Conflict, Gone, InvalidInput

KIND_NAMES: dict[str, str] = {
    "assistive_listening": "Assistive-listening receiver with headphones",
    "neckloop": "Assistive-listening receiver with a neckloop (for hearing aids with a T-coil)",
    "captioning": "Closed-captioning display",
    "audio_description": "Audio-description receiver",
}
RECEIVERS = ("assistive_listening", "neckloop")
HEARING_AID_COMPATIBLE = ("neckloop",)
HOLDS_A_UNIT = ("reserved", "checked_out", "returned")  # the statuses the exclusion covers
LIVE = ("waitlisted", "reserved")  # what a patron, a booking or a hold can still cancel
OUT_OF_SERVICE = ("needs_repair", "retired")


class Span(NamedTuple):
    """The time a loan keeps its unit: [start, end)."""

    start: datetime
    end: datetime


class Auditorium(NamedTuple):
    seats: int
    hearing_loop: bool


# -- what a screening offers --------------------------------------------------------------------


def offered_kinds(
    features: Iterable[str], hearing_loop: bool, in_service: Mapping[str, int]
) -> list[DeviceKind]:
    """The kinds a screening offers: what its listing supports (assistive listening, closed
    captions, audio description) and the venue has units of. Neckloops are not offered where
    the auditorium has a hearing loop: a hearing aid set to T hears the loop itself."""
    wanted = set(features)
    supported = {
        "assistive_listening": "assistive_listening" in wanted,
        "neckloop": "assistive_listening" in wanted and not hearing_loop,
        "captioning": "closed_captions" in wanted,
        "audio_description": "audio_description" in wanted,
    }
    return [
        kind  # type: ignore[misc]
        for kind in DEVICE_KINDS
        if supported[kind] and in_service.get(kind, 0) > 0
    ]


def reservable(free_units: int, waiting: int) -> int:
    """Units a new reservation could still get: those free for the loan span, less the patrons
    already waiting for an overlapping screening (they are served first)."""
    return max(0, free_units - waiting)


def loan_span(
    starts_at: datetime, ends_at: datetime, lead_minutes: int, turnaround_minutes: int
) -> Span:
    """A unit is set aside from the pick-up lead before the start until the turnaround after the
    end (return, cleaning, charging): every overlapping screening in the venue needs another."""
    return Span(
        pickup_window(starts_at, lead_minutes, 0).start,
        ends_at + timedelta(minutes=turnaround_minutes),
    )


def pickup_window(starts_at: datetime, lead_minutes: int, no_show_minutes: int) -> Span:
    """When the desk hands a reserved device over, as patrons are told: from the pick-up lead
    before the start (where its loan span begins) until the no-show deadline after it, when a
    device never collected goes to the next patron."""
    return Span(
        starts_at - timedelta(minutes=lead_minutes), starts_at + timedelta(minutes=no_show_minutes)
    )


def from_now(span: Span, now: datetime) -> Span:
    """The part of a span still to come: a unit set aside once the span has begun is needed from
    now on, and a loan that ended a minute ago must not stand in its way."""
    if span.start < now < span.end:
        return Span(now, span.end)
    return span


def span_to_follow(stored: Span, full: Span, now: datetime) -> Span | None:
    """The span a live reservation should have now that its screening's full span is `full`, or
    None when it has it already (the full span, or what was left of it when it was placed)."""
    if stored.end == full.end and full.start <= stored.start <= max(full.start, now):
        return None
    return from_now(full, now)


def check_reservable(status: str, starts_at: datetime, now: datetime) -> None:
    if status == "cancelled":
        raise Conflict("the screening is cancelled", reason="screening cancelled")
    if now >= starts_at:
        raise Conflict(
            "the screening has started: ask at the desk for a device", reason="screening started"
        )


def check_kind_offered(kind: str, offered: Sequence[str]) -> None:
    if kind not in offered:
        choice = ", ".join(offered) if offered else "none"
        raise InvalidInput(
            f"this screening does not offer {kind} devices (it offers: {choice})",
            field="kind",
            reason="not offered for this screening",
        )


def patron_of(
    name: str | None,
    email: str | None,
    booking: tuple[str, str] | None = None,
) -> tuple[str, str | None]:
    """The patron's name and e-mail: as given, else the booking's."""
    if booking is not None:
        return name or booking[0], email or booking[1]
    if name is None:
        raise InvalidInput(
            "give the patron's name (it is called at the desk), or a booking reference",
            field="patron_name",
            reason="missing",
        )
    return name, email


def check_ties(booking_reference: str | None, hold_id: object | None) -> None:
    if booking_reference is not None and hold_id is not None:
        raise InvalidInput(
            "tie the reservation to a booking or to a hold, not both",
            field="hold_id",
            reason="with booking_reference",
        )


NO_SUCH_BOOKING = "no booking of this screening has this reference and secret"


def check_booking_tie(
    booking_screening: object | None, status: str, screening_id: object, proven: bool
) -> None:
    """A reservation may name a confirmed booking of its screening whose secret it proves (or
    staff's). An unknown reference, another screening's and a wrong secret answer alike, so a
    reference cannot be probed for."""
    if booking_screening is None or booking_screening != screening_id or not proven:
        raise InvalidInput(NO_SUCH_BOOKING, field="booking_reference", reason="no such booking")
    if status != "confirmed":
        raise Gone("this booking is cancelled")


def check_hold_tie(
    hold_screening: object, status: str, expires_at: datetime, screening_id: object, now: datetime
) -> None:
    if hold_screening != screening_id:
        raise InvalidInput(
            "this hold is for another screening", field="hold_id", reason="another screening"
        )
    if status == "confirmed":
        return  # a booking now: the reservation follows it
    if status != "live" or expires_at <= now:
        raise Gone(f"this hold has {'expired' if status == 'live' else status}")


# -- the desk -----------------------------------------------------------------------------------


def unit_problem(
    state: str, unit_auditorium: object | None, screening_auditorium: object
) -> str | None:
    """Why a unit cannot be handed over for a screening in `screening_auditorium` as it is, or
    None when it can."""
    if state == "charging":
        return "charging"
    if state != "available":
        return state.replace("_", " ")
    if unit_auditorium is not None and unit_auditorium != screening_auditorium:
        return "tuned to another auditorium"
    return None


def check_check_out(
    status: str,
    kind: str,
    unit_kind: str,
    unit_state: str,
    unit_auditorium: object | None,
    screening_auditorium: object,
    span: Span,
    ends_at: datetime,
    now: datetime,
    asset_tag: str,
) -> None:
    """A unit may be handed over for a reservation with a unit set aside, from the start of its
    loan span (the pick-up lead before the screening) until the film ends, if it is of the
    right kind, charged and tuned to the screening's auditorium."""
    if status != "reserved":
        raise Conflict(
            f"this reservation is {status.replace('_', ' ')}, not reserved",
            reason=f"reservation {status}",
        )
    if now < span.start:
        raise Conflict(
            f"pick-up opens at {span.start.isoformat()}", reason="too early", opens_at=span.start
        )
    if now >= ends_at:
        raise Conflict("the screening has ended", reason="screening ended")
    if unit_kind != kind:
        raise InvalidInput(
            f"{asset_tag} is a {unit_kind} device; this reservation is for {kind}",
            field="asset_tag",
            reason="another kind",
        )
    problem = unit_problem(unit_state, unit_auditorium, screening_auditorium)
    if problem is not None:
        raise Conflict(
            f"{asset_tag} cannot be handed over: {problem}", reason=problem, field="asset_tag"
        )


def returned_span(span: Span, now: datetime, turnaround_minutes: int, charged: bool) -> Span:
    """A unit returned early is free again after its turnaround (at once when it comes back
    charged); one returned late keeps its span (returned_at says when it came back)."""
    end = min(span.end, now if charged else now + timedelta(minutes=turnaround_minutes))
    return Span(span.start, max(end, span.start + timedelta(microseconds=1)))


def overdue_at(ends_at: datetime, overdue_minutes: int) -> datetime:
    return ends_at + timedelta(minutes=overdue_minutes)


def check_state_change(current: str, new: str, asset_tag: str) -> None:
    if current == "on_loan" and new != current:
        raise Conflict(
            f"{asset_tag} is on loan: take its return first", reason="on loan", field="state"
        )


def withdraws(previous: str, new: str) -> bool:
    """True when a change takes a unit out of service: its coming loans must move."""
    return new in OUT_OF_SERVICE and previous not in OUT_OF_SERVICE


def back_in_service(previous: str, new: str) -> bool:
    """True when a unit comes back from repair (or retirement): the waitlist may move."""
    return previous in OUT_OF_SERVICE and new not in OUT_OF_SERVICE


def unit_order(unit_auditorium: object | None, screening_auditorium: object) -> int:
    """Which free unit to set aside first: one tuned to the screening's auditorium, then one that
    works everywhere, then one staff will have to retune."""
    if unit_auditorium == screening_auditorium:
        return 0
    return 1 if unit_auditorium is None else 2


# -- what US rules ask of a venue ---------------------------------------------------------------


def required_receivers(seats: int) -> int:
    """Assistive-listening receivers for an assembly area (2010 ADA Standards, table 219.3)."""
    if seats <= 50:
        return 2
    if seats <= 500:
        return 2 + math.ceil((seats - 50) / 25)
    if seats <= 1000:
        return 20 + math.ceil((seats - 500) / 33)
    if seats <= 2000:
        return 35 + math.ceil((seats - 1000) / 50)
    return 55 + math.ceil((seats - 2000) / 100)


def required_hearing_aid_compatible(seats: int, hearing_loop: bool) -> int:
    """Of those, how many must be hearing-aid compatible (neckloops): 2 up to 50 seats, else one
    in four; none where an induction loop serves every seat (219.3, exception 2)."""
    if hearing_loop:
        return 0
    if seats <= 50:
        return 2
    return math.ceil(required_receivers(seats) / 4)


def required_captioning(auditoriums: int) -> int:
    """Captioning devices for a cinema of this many digital auditoriums (28 CFR 36.303(g)(3))."""
    if auditoriums <= 0:
        return 0
    if auditoriums == 1:
        return 4
    if auditoriums <= 7:
        return 6
    return 8 if auditoriums <= 15 else 12


def required_audio_description(auditoriums: int) -> int:
    """One per two auditoriums, never fewer than two (28 CFR 36.303(g)(4))."""
    return 0 if auditoriums <= 0 else max(2, math.ceil(auditoriums / 2))


def requirements(auditoriums: Sequence[Auditorium], in_service: Mapping[str, int]) -> Requirements:
    """What the venue needs beside what it has in service. Receivers are counted per auditorium
    (pooled units must then work in every auditorium, 219.3 exception 1)."""
    return Requirements(
        receivers_required=sum(required_receivers(a.seats) for a in auditoriums),
        receivers=sum(in_service.get(kind, 0) for kind in RECEIVERS),
        hearing_aid_compatible_required=sum(
            required_hearing_aid_compatible(a.seats, a.hearing_loop) for a in auditoriums
        ),
        hearing_aid_compatible=sum(in_service.get(kind, 0) for kind in HEARING_AID_COMPATIBLE),
        captioning_required=required_captioning(len(auditoriums)),
        captioning=in_service.get("captioning", 0),
        audio_description_required=required_audio_description(len(auditoriums)),
        audio_description=in_service.get("audio_description", 0),
    )
