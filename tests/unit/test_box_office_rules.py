"""The box office's pure rules: seat kinds, best available, extensions, tickets, statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import Seat
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


def test_a_refused_seat_kind_is_a_422_naming_the_seat_and_its_field():
    # which seats are refused is box_office_seat_kinds' (SQL): see test_holds.py
    chair = rules.seat_kind_refused("wheelchair space", BY_LABEL["M1"], "seats[1]")
    assert chair.extra["errors"][0]["field"] == "seats[1]"
    assert "M1" in chair.detail
    companion = rules.seat_kind_refused("companion seat", BY_LABEL["M2"], "add[0]")
    assert companion.extra["errors"][0]["field"] == "add[0]"
    assert companion.extra["errors"][0]["reason"].startswith("companion seat")


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
