from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import SeatIn, Subtitles
from services.catalog import rules
from services.errors import InvalidInput, _pointer


def test_screening_span_adds_trailers_runtime_and_cleaning():
    start = datetime(2025, 3, 21, 23, 0, tzinfo=UTC)
    ends, free = rules.screening_span(start, 82, 10, 15)
    assert ends == datetime(2025, 3, 22, 0, 32, tzinfo=UTC)
    assert free == datetime(2025, 3, 22, 0, 47, tzinfo=UTC)


def test_local_view_uses_the_venue_time_zone_across_midnight_and_dst():
    start = datetime(2025, 3, 22, 2, 30, tzinfo=UTC)  # Friday evening in New York
    assert rules.local_view(start, "America/New_York") == (
        date(2025, 3, 21),
        "2025-03-21T22:30:00-04:00",
    )
    winter = datetime(2025, 1, 10, 21, 0, tzinfo=UTC)
    assert rules.local_view(winter, "America/New_York")[1].endswith("-05:00")


def test_unknown_time_zone_is_refused():
    with pytest.raises(InvalidInput) as exc:
        rules.check_time_zone("Mars/Olympus_Mons")
    assert exc.value.extra["errors"][0]["field"] == "time_zone"
    assert rules.check_time_zone("Europe/Brussels") == "Europe/Brussels"


@pytest.mark.parametrize(
    ("features", "subtitles", "loop", "expected"),
    [
        ([], None, False, []),
        ([], None, True, ["hearing_loop"]),
        (
            ["assistive_listening"],
            Subtitles("en"),
            True,
            ["assistive_listening", "hearing_loop", "subtitled"],
        ),
        (["relaxed", "relaxed"], None, False, ["relaxed"]),
        (["open_captions"], Subtitles("en", "open"), False, ["open_captions", "subtitled"]),
    ],
)
def test_features_follow_the_auditorium_and_subtitles(features, subtitles, loop, expected):
    assert rules.check_features(features, subtitles, loop) == expected


@pytest.mark.parametrize(
    ("features", "subtitles", "loop", "field"),
    [
        (["relaxed", "hearing_loop"], None, False, "features[1]"),
        (["subtitled"], None, False, "subtitles"),
        (["open_captions"], Subtitles("en", "closed"), False, "subtitles.mode"),
    ],
)
def test_feature_contradictions_name_the_field(features, subtitles, loop, field):
    with pytest.raises(InvalidInput) as exc:
        rules.check_features(features, subtitles, loop)
    assert exc.value.extra["errors"][0]["field"] == field


def test_seat_map_refuses_duplicates():
    seat = SeatIn("A1", "A", 1, 1, 1.0, 1.0)
    with pytest.raises(InvalidInput, match="appears twice"):
        rules.check_seat_map([seat, SeatIn("A1", "A", 1, 2, 2.0, 1.0)])
    with pytest.raises(InvalidInput, match="row 1, position 1"):
        rules.check_seat_map([seat, SeatIn("A2", "A", 1, 1, 2.0, 1.0)])
    rules.check_seat_map([seat, SeatIn("A2", "A", 1, 2, 2.0, 1.0)])


@pytest.mark.parametrize(
    ("field", "pointer"),
    [("title", "#/title"), ("seats[2].label", "#/seats/2/label"), ("a/b", "#/a~1b")],
)
def test_json_pointer_of_a_field(field, pointer):
    assert _pointer(field) == pointer


@given(st.lists(st.text(min_size=1, max_size=5), max_size=8))
def test_check_unique_refuses_exactly_the_lists_with_repeats(values):
    if len(set(values)) == len(values):
        rules.check_unique(values, "x")
    else:
        with pytest.raises(InvalidInput):
            rules.check_unique(values, "x")
