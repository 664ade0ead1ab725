"""The box office's pure rules: seat kinds, best available, extensions, tickets, statuses."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.box_office import TicketIn
from schemas.catalog import Seat, SeatKind
from services.box_office import rules
from services.demo import large_seat_map, small_seat_map
from services.errors import Conflict, Gone, InvalidInput

NOW = datetime(2025, 3, 21, 18, 0, tzinfo=UTC)


def seats_of(seat_map: list) -> list[Seat]:
    return [
        Seat(uuid4(), s.label, s.row_label, s.row_number, s.position, s.x, s.y, s.kind)
        for s in seat_map
    ]


LARGE = seats_of(large_seat_map())
SMALL = seats_of(small_seat_map())
BY_LABEL = {seat.label: seat for seat in LARGE}


def labels(seats: list[Seat] | None) -> list[str] | None:
    return None if seats is None else [seat.label for seat in seats]


def taken(*names: str) -> set[UUID]:
    return {BY_LABEL[name].id for name in names}


def test_resolve_seats_names_unknown_and_repeated_labels():
    assert labels(rules.resolve_seats(["A1", "B2"], BY_LABEL, "seats")) == ["A1", "B2"]
    with pytest.raises(InvalidInput) as unknown:
        rules.resolve_seats(["A1", "Z9"], BY_LABEL, "seats")
    assert unknown.value.extra["errors"][0]["field"] == "seats[1]"
    with pytest.raises(InvalidInput) as twice:
        rules.resolve_seats(["A1", "A1"], BY_LABEL, "seats")
    assert twice.value.extra["errors"][0]["reason"] == "duplicate"


def test_hold_size():
    rules.check_hold_size(10, 10, "seats")
    with pytest.raises(InvalidInput):
        rules.check_hold_size(11, 10, "seats")
    with pytest.raises(InvalidInput):
        rules.check_hold_size(0, 10, "count")


def kinds(names: list[str], wheelchair_spaces: int) -> None:
    seats = [BY_LABEL[name] for name in names]
    rules.check_seat_kinds(seats, wheelchair_spaces, [f"seats[{i}]" for i in range(len(seats))])


def test_wheelchair_space_needs_a_declared_need():
    kinds(["M1"], 1)
    with pytest.raises(InvalidInput) as refused:
        kinds(["M3", "M1"], 0)
    assert refused.value.extra["errors"][0]["field"] == "seats[1]"
    with pytest.raises(InvalidInput):
        kinds(["M1", "M5"], 1)  # two spaces, one declared


def test_companion_seat_only_beside_a_wheelchair_space_in_the_same_hold():
    kinds(["M1", "M2"], 1)  # M2 beside M1
    kinds(["M6", "M5"], 1)
    with pytest.raises(InvalidInput) as alone:
        kinds(["M2"], 0)
    assert alone.value.extra["errors"][0]["reason"].startswith("companion seat")
    with pytest.raises(InvalidInput):
        kinds(["M2", "M8"], 1)  # M8 is a wheelchair space, but not beside M2


def test_sellable():
    rules.check_sellable("on_sale", NOW + timedelta(hours=1), NOW)
    rules.check_sellable("sold_out", NOW + timedelta(hours=1), NOW)
    for status in ("cancelled", "scheduled"):
        with pytest.raises(Conflict):
            rules.check_sellable(status, NOW + timedelta(hours=1), NOW)
    with pytest.raises(Conflict):
        rules.check_sellable("on_sale", NOW, NOW)


def test_best_available_takes_the_middle_of_the_middle_row_on_one_side_of_the_aisle():
    # Rows A-M: the centre is between rows G and H, at the centre aisle (x = 13).
    assert labels(rules.best_available(LARGE, set(), 2)) == ["G11", "G12"]
    assert labels(rules.best_available(LARGE, set(), 4)) == ["G9", "G10", "G11", "G12"]


def test_a_retry_can_ask_for_a_lower_ranked_group():
    assert labels(rules.best_available(LARGE, set(), 2, rank=1)) == ["G13", "G14"]
    ranked = [labels(rules.best_available(LARGE, set(), 2, rank=r)) for r in range(6)]
    assert len({tuple(group) for group in ranked}) == 6
    nearly_full = {seat.id for seat in LARGE} - {BY_LABEL["A5"].id, BY_LABEL["A6"].id}
    assert labels(rules.best_available(LARGE, nearly_full, 2, rank=5)) == ["A5", "A6"]


def test_best_available_never_spans_the_aisle():
    group = rules.best_available(LARGE, set(), 12)
    assert group is not None
    assert {seat.position <= 12 for seat in group} == {True} or {
        seat.position > 12 for seat in group
    } == {True}
    assert rules.best_available(LARGE, set(), 13) is None


def test_best_available_leaves_no_single_empty_seat():
    # Row G left block: only G1-G3 and G9-G12 free around taken seats.
    row_g = {f"G{n}" for n in range(1, 13)} - {"G1", "G2", "G3", "G9", "G10", "G11", "G12"}
    others = {seat.label for seat in LARGE if not seat.label.startswith("G")}
    unavailable = taken(*row_g, *others, *(f"G{n}" for n in range(13, 25)))
    # Two of G1-G3 would leave one: the pair goes to G9-G12, at an end of the run or the other.
    pair = labels(rules.best_available(LARGE, unavailable, 2))
    assert pair in (["G11", "G12"], ["G9", "G10"])
    three = labels(rules.best_available(LARGE, unavailable, 3))
    assert three == ["G1", "G2", "G3"]  # G9-G11 or G10-G12 would leave a single seat


def test_best_available_keeps_wheelchair_spaces_and_companions_for_those_who_need_them():
    for group in (rules.best_available(LARGE, set(), n) for n in range(1, 11)):
        assert group is not None
        assert all(seat.kind not in ("wheelchair", "companion") for seat in group)


def test_best_available_with_a_wheelchair_space_and_companion():
    group = rules.best_available(LARGE, set(), 2, wheelchair_spaces=1)
    assert group is not None
    assert sorted(seat.kind for seat in group) == ["companion", "wheelchair"]
    alone = rules.best_available(LARGE, set(), 1, wheelchair_spaces=1)
    assert alone is not None
    assert alone[0].kind == "wheelchair"
    everyone = {seat.id for seat in LARGE if seat.kind == "wheelchair"}
    assert rules.best_available(LARGE, everyone, 2, wheelchair_spaces=1) is None


def test_best_available_in_the_small_auditorium():
    # Rows A-H of 11 and row J: the centre is in row E, at seat 6.
    assert labels(rules.best_available(SMALL, set(), 3)) == ["E5", "E6", "E7"]


# -- best available, for any auditorium ---------------------------------------------------------

KIND = st.sampled_from(["standard"] * 6 + ["aisle", "wheelchair", "companion"])


@st.composite
def auditoriums(draw: st.DrawFn) -> tuple[list[Seat], set[UUID]]:
    seats: list[Seat] = []
    for row in range(1, draw(st.integers(1, 5)) + 1):
        width = draw(st.integers(1, 12))
        aisle = draw(st.integers(0, width))  # an aisle after this position (0: none)
        for position in range(1, width + 1):
            kind: SeatKind = draw(KIND)
            x = float(position + (1 if aisle and position > aisle else 0))
            seats.append(
                Seat(uuid4(), f"R{row}S{position}", f"R{row}", row, position, x, row, kind)
            )
    unavailable = {seat.id for seat in seats if draw(st.booleans())}
    return seats, unavailable


def _runs(seats: list[Seat], unavailable: set[UUID]) -> list[list[Seat]]:
    """Reference implementation: maximal runs of free seats side by side; an aisle (a gap wider
    than the row's narrowest) breaks a run."""
    out: list[list[Seat]] = []
    for row in sorted({seat.row_number for seat in seats}):
        current: list[Seat] = []
        ordered = sorted((s for s in seats if s.row_number == row), key=lambda s: s.position)
        gaps = [b.x - a.x for a, b in itertools.pairwise(ordered)]
        narrowest = min(gaps, default=1.0)
        for seat in ordered:
            side_by_side = current and seat.x - current[-1].x <= narrowest
            if seat.id in unavailable or not side_by_side:
                if current:
                    out.append(current)
                current = []
            if seat.id not in unavailable:
                current.append(seat)
        if current:
            out.append(current)
    return out


def _fits(window: list[Seat], wheelchair_spaces: int) -> bool:
    chairs = [s for s in window if s.kind == "wheelchair"]
    if len(chairs) != wheelchair_spaces:
        return False
    return all(
        s.kind != "companion" or any(abs(c.position - s.position) == 1 for c in chairs)
        for s in window
    )


@settings(max_examples=300, deadline=None)
@given(auditoriums(), st.integers(1, 6), st.integers(0, 2))
def test_best_available_properties(auditorium, count, wheelchair_spaces):
    seats, unavailable = auditorium
    group = rules.best_available(seats, unavailable, count, wheelchair_spaces)
    candidates = []
    for run in _runs(seats, unavailable):
        for start in range(len(run) - count + 1):
            if start == 1 or len(run) - start - count == 1:
                continue
            window = run[start : start + count]
            if _fits(window, wheelchair_spaces):
                candidates.append(window)
    if group is None:
        assert candidates == []
        return
    assert len(group) == count
    assert group in candidates  # free, side by side in one row, fits, leaves no single seat
    fx, fy = rules.focal_point(seats)

    def distance(window: list[Seat]) -> float:
        cx = sum(s.x for s in window) / count
        cy = sum(s.y for s in window) / count
        return (cx - fx) ** 2 + (cy - fy) ** 2

    assert distance(group) == min(distance(window) for window in candidates)


# -- times, tickets, references, statuses -------------------------------------------------------


def test_hold_times_and_extensions():
    expires_at, latest = rules.hold_times(NOW, 10, 30)
    assert expires_at == NOW + timedelta(minutes=10)
    assert latest == NOW + timedelta(minutes=30)
    first = rules.extended_expiry(NOW, expires_at, latest, 0, 2, 10)
    assert first == NOW + timedelta(minutes=20)
    second = rules.extended_expiry(NOW, first, latest, 1, 5, 10)
    assert second == latest
    with pytest.raises(Conflict):  # at the cap
        rules.extended_expiry(NOW, second, latest, 2, 5, 10)
    with pytest.raises(Conflict):  # out of extensions
        rules.extended_expiry(NOW, first, latest, 2, 2, 10)
    with pytest.raises(Gone):  # dead
        rules.extended_expiry(expires_at, expires_at, latest, 0, 2, 10)
    # A venue hold time longer than the cap is never cut short.
    assert rules.hold_times(NOW, 40, 30)[1] == NOW + timedelta(minutes=40)


def test_price_tickets():
    held = [BY_LABEL["A1"], BY_LABEL["A2"]]
    prices = {"adult": 1500, "senior": 1200}
    priced = rules.price_tickets(held, [TicketIn("A2", "senior"), TicketIn("A1", "adult")], prices)
    assert [(seat.label, kind, amount) for seat, kind, amount in priced] == [
        ("A1", "adult", 1500),
        ("A2", "senior", 1200),
    ]
    cases = [
        ([TicketIn("A1", "adult")], "tickets"),
        ([TicketIn("A1", "adult"), TicketIn("A3", "adult")], "tickets[1].seat"),
        ([TicketIn("A1", "adult"), TicketIn("A1", "adult")], "tickets[1].seat"),
        ([TicketIn("A1", "adult"), TicketIn("A2", "child")], "tickets[1].ticket_type"),
    ]
    for tickets, field in cases:
        with pytest.raises(InvalidInput) as refused:
            rules.price_tickets(held, tickets, prices)
        assert refused.value.extra["errors"][0]["field"] == field


@given(st.binary(min_size=rules.REFERENCE_LENGTH, max_size=rules.REFERENCE_LENGTH))
def test_booking_references_are_short_and_unambiguous(randomness):
    reference = rules.booking_reference(randomness)
    assert len(reference) == rules.REFERENCE_LENGTH
    assert set(reference) <= set(rules.REFERENCE_ALPHABET)
    assert not set(reference) & set("01ILO")


def test_sale_status_flips_only_between_on_sale_and_sold_out():
    assert rules.sale_status_after("on_sale", False) == "sold_out"
    assert rules.sale_status_after("on_sale", True) is None
    assert rules.sale_status_after("sold_out", True) == "on_sale"
    assert rules.sale_status_after("sold_out", False) is None
    assert rules.sale_status_after("cancelled", False) is None
    assert rules.sale_status_after("scheduled", False) is None


def test_seat_map_version_follows_claims_and_status():
    a, b = uuid4(), uuid4()
    base = rules.seat_map_version("on_sale", {a: "hold"})
    assert base == rules.seat_map_version("on_sale", {a: "hold"})
    assert base != rules.seat_map_version("on_sale", {a: "booking"})
    assert base != rules.seat_map_version("on_sale", {a: "hold", b: "block"})
    assert base != rules.seat_map_version("sold_out", {a: "hold"})
    statuses = rules.seat_statuses({a: "hold", b: "block"})
    assert rules.count_statuses(5, statuses) == {
        "available": 3,
        "held": 1,
        "booked": 0,
        "blocked": 1,
    }
