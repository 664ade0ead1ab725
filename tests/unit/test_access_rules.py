"""Access device rules: no servers."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.access import rules
from services.demo import demo_inventory
from services.errors import Conflict, Gone, InvalidInput

NOW = datetime(2025, 3, 21, 18, 0, tzinfo=UTC)
ROOM = uuid.uuid4()
OTHER_ROOM = uuid.uuid4()
ALL = {"assistive_listening": 9, "neckloop": 3, "captioning": 6, "audio_description": 2}


@pytest.mark.parametrize(
    ("seats", "receivers"),
    [(1, 2), (50, 2), (51, 3), (75, 3), (76, 4), (92, 4), (200, 8), (300, 12), (500, 20),
     (501, 21), (1000, 36), (1001, 36), (2000, 55), (2001, 56), (5000, 85)],
)  # fmt: skip
def test_receivers_follow_ada_table_219_3(seats: int, receivers: int) -> None:
    assert rules.required_receivers(seats) == receivers


@given(st.integers(min_value=1, max_value=10_000))
def test_receivers_never_decrease_with_seats_and_a_quarter_hear_aids(seats: int) -> None:
    assert rules.required_receivers(seats + 1) >= rules.required_receivers(seats)
    compatible = rules.required_hearing_aid_compatible(seats, hearing_loop=False)
    assert compatible >= math.ceil(rules.required_receivers(seats) / 4)
    assert compatible >= 1
    assert rules.required_hearing_aid_compatible(seats, hearing_loop=True) == 0


def test_captioning_and_audio_description_follow_28_cfr_36_303g() -> None:
    assert [rules.required_captioning(n) for n in (1, 2, 7, 8, 15, 16)] == [4, 6, 6, 8, 8, 12]
    assert [rules.required_audio_description(n) for n in (1, 2, 3, 4, 5, 16)] == [2, 2, 2, 2, 3, 8]


def test_the_demo_inventory_meets_the_rules() -> None:
    units = demo_inventory(ROOM, OTHER_ROOM)
    counts: dict[str, int] = {}
    for unit in units:
        counts[unit.kind] = counts.get(unit.kind, 0) + 1
    needs = rules.requirements([rules.Auditorium(300, False), rules.Auditorium(92, True)], counts)
    assert needs.receivers == needs.receivers_required == 16
    assert needs.hearing_aid_compatible == needs.hearing_aid_compatible_required == 3
    assert needs.captioning == needs.captioning_required == 6
    assert needs.audio_description == needs.audio_description_required == 2
    assert len({unit.asset_tag for unit in units}) == len(units)
    assert all(u.auditorium_id == OTHER_ROOM for u in units if u.asset_tag.startswith("ALS-2"))


def test_a_screening_offers_what_its_listing_supports_and_the_venue_has() -> None:
    listening = ["assistive_listening", "subtitled"]
    assert rules.offered_kinds(listening, False, ALL) == ["assistive_listening", "neckloop"]
    # a looped room serves hearing aids itself: no neckloops
    assert rules.offered_kinds([*listening, "hearing_loop"], True, ALL) == ["assistive_listening"]
    every = ["assistive_listening", "closed_captions", "audio_description"]
    assert rules.offered_kinds(every, False, ALL) == list(ALL)
    assert rules.offered_kinds(every, False, {"captioning": 1}) == ["captioning"]
    assert rules.offered_kinds(["subtitled"], False, ALL) == []


def test_a_loan_keeps_its_unit_from_the_lead_to_the_turnaround() -> None:
    span = rules.loan_span(NOW, NOW + timedelta(minutes=92), 30, 45)
    assert span == (NOW - timedelta(minutes=30), NOW + timedelta(minutes=137))


def test_reservable_units_leave_room_for_those_waiting() -> None:
    assert rules.reservable(3, 0) == 3
    assert rules.reservable(3, 2) == 1
    assert rules.reservable(1, 4) == 0


def test_reserving_is_open_until_the_screening_starts() -> None:
    rules.check_reservable("on_sale", NOW + timedelta(seconds=1), NOW)
    rules.check_reservable("sold_out", NOW + timedelta(hours=1), NOW)
    with pytest.raises(Conflict):
        rules.check_reservable("on_sale", NOW, NOW)
    with pytest.raises(Conflict):
        rules.check_reservable("cancelled", NOW + timedelta(hours=1), NOW)


def test_kind_patron_and_ties_are_checked_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.check_kind_offered("neckloop", ["assistive_listening"])
    assert refused.value.extra["errors"][0]["field"] == "kind"
    with pytest.raises(InvalidInput) as refused:
        rules.patron_of(None, None)
    assert refused.value.extra["errors"][0]["field"] == "patron_name"
    assert rules.patron_of(None, None, ("Ana Pop", "ana@example.org")) == (
        "Ana Pop",
        "ana@example.org",
    )
    assert rules.patron_of("Ion", None, ("Ana Pop", "ana@example.org")) == (
        "Ion",
        "ana@example.org",
    )
    with pytest.raises(InvalidInput):
        rules.check_ties("ABC", uuid.uuid4())
    screening = uuid.uuid4()
    # Unknown, another screening's, or not proven: one answer, word for word.
    refusals = []
    for args in (
        (None, "", screening, True),
        (uuid.uuid4(), "confirmed", screening, True),
        (screening, "confirmed", screening, False),
    ):
        with pytest.raises(InvalidInput) as refused:
            rules.check_booking_tie(*args)
        refusals.append((refused.value.detail, refused.value.extra))
    assert refusals[0] == refusals[1] == refusals[2]
    rules.check_booking_tie(screening, "confirmed", screening, True)
    with pytest.raises(Gone):
        rules.check_booking_tie(screening, "cancelled", screening, True)
    rules.check_hold_tie(screening, "confirmed", NOW - timedelta(hours=1), screening, NOW)
    with pytest.raises(Gone):
        rules.check_hold_tie(screening, "live", NOW, screening, NOW)
    with pytest.raises(Gone):
        rules.check_hold_tie(screening, "released", NOW + timedelta(hours=1), screening, NOW)


def _check_out(**changes: object) -> None:
    facts: dict[str, object] = {
        "status": "reserved",
        "kind": "assistive_listening",
        "unit_kind": "assistive_listening",
        "unit_state": "available",
        "unit_auditorium": ROOM,
        "screening_auditorium": ROOM,
        "span": rules.Span(NOW - timedelta(minutes=30), NOW + timedelta(hours=2)),
        "ends_at": NOW + timedelta(hours=1),
        "now": NOW,
        "asset_tag": "ALS-101",
    }
    facts.update(changes)
    rules.check_check_out(**facts)  # type: ignore[arg-type]


def test_a_check_out_needs_a_charged_unit_of_the_kind_tuned_right() -> None:
    _check_out()
    _check_out(unit_auditorium=None)  # works in every auditorium
    for changes, reason in [
        ({"unit_state": "charging"}, "charging"),
        ({"unit_state": "needs_repair"}, "needs repair"),
        ({"unit_state": "on_loan"}, "on loan"),
        ({"unit_auditorium": OTHER_ROOM}, "tuned to another auditorium"),
        ({"status": "waitlisted"}, "reservation waitlisted"),
        ({"status": "checked_out"}, "reservation checked_out"),
        ({"now": NOW + timedelta(hours=1)}, "screening ended"),
        ({"now": NOW - timedelta(minutes=31)}, "too early"),
    ]:
        with pytest.raises(Conflict) as refused:
            _check_out(**changes)
        assert refused.value.extra["reason"] == reason
    with pytest.raises(InvalidInput):
        _check_out(unit_kind="neckloop")


def test_spans_at_the_desk() -> None:
    span = rules.Span(NOW, NOW + timedelta(hours=2))
    back = NOW + timedelta(minutes=40)
    assert rules.returned_span(span, back, 30, charged=False).end == back + timedelta(minutes=30)
    assert rules.returned_span(span, back, 30, charged=True).end == back
    late = NOW + timedelta(hours=3)
    assert rules.returned_span(span, late, 30, charged=False) == span


def test_state_changes() -> None:
    rules.check_state_change("charging", "available", "ALS-101")
    with pytest.raises(Conflict):
        rules.check_state_change("on_loan", "needs_repair", "ALS-101")
    assert rules.withdraws("available", "needs_repair")
    assert rules.withdraws("charging", "retired")
    assert not rules.withdraws("needs_repair", "retired")
    assert rules.back_in_service("needs_repair", "available")
    assert not rules.back_in_service("charging", "available")


def test_units_tuned_to_the_room_come_first() -> None:
    units = [(OTHER_ROOM, "A"), (None, "B"), (ROOM, "C")]
    units.sort(key=lambda unit: (rules.unit_order(unit[0], ROOM), unit[1]))
    assert [tag for _, tag in units] == ["C", "B", "A"]


def test_a_unit_problem_is_said_plainly() -> None:
    assert rules.unit_problem("available", ROOM, ROOM) is None
    assert rules.unit_problem("charging", ROOM, ROOM) == "charging"
    assert rules.unit_problem("available", OTHER_ROOM, ROOM) == "tuned to another auditorium"


def test_a_span_already_begun_is_needed_from_now() -> None:
    span = rules.Span(NOW, NOW + timedelta(hours=2))
    assert rules.from_now(span, NOW - timedelta(minutes=5)) == span
    later = NOW + timedelta(minutes=5)
    assert rules.from_now(span, later) == (later, span.end)
    assert rules.from_now(span, NOW + timedelta(hours=3)) == span  # over: left as it was


def test_which_spans_follow_a_moved_screening() -> None:
    full = rules.Span(NOW, NOW + timedelta(hours=2))
    assert rules.span_to_follow(full, full, NOW - timedelta(hours=1)) is None
    placed_late = rules.Span(NOW + timedelta(minutes=10), full.end)
    assert rules.span_to_follow(placed_late, full, NOW + timedelta(minutes=20)) is None
    moved = rules.Span(NOW + timedelta(hours=1), NOW + timedelta(hours=3))
    assert rules.span_to_follow(full, moved, NOW - timedelta(hours=1)) == moved
    assert rules.span_to_follow(full, moved, NOW + timedelta(hours=2)) == (
        NOW + timedelta(hours=2),
        moved.end,
    )
