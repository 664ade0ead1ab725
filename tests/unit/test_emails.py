"""Email rules and rendering without servers: retry decisions, Message-IDs, how facts read, the
ticket code, and the hand-written .ics and MIME, parsed back by icalendar and the email package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from uuid import UUID, uuid4

import icalendar
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import ticket_codes
from services.notifications import rules
from services.settings import (
    AuthSettings,
    BoxOfficeSettings,
    DatabaseSettings,
    MailSettings,
    RedisSettings,
    Settings,
)
from workers.emails import mime, present, render
from workers.emails.attachments import calendar
from workers.emails.letters import (
    BookingCancelledMail,
    BookingConfirmedMail,
    BookingFacts,
    ScreeningFacts,
    SeatLine,
)

SCREENING = ScreeningFacts(
    screening_id=UUID("01900000-0000-7000-8000-000000000001"),
    version=4,
    film_title="HERE",
    film_year=2024,
    runtime_minutes=82,
    rating="NR",
    directors=["Bas Devos"],
    venue_id=UUID("01900000-0000-7000-8000-000000000002"),
    venue_name="Riverside Picture House",
    venue_address=["12 Water Street", "Hudson, NY 12534"],
    time_zone="America/New_York",
    auditorium_name="Cinema 2",
    hearing_loop=True,
    starts_at=datetime(2026, 5, 15, 23, 0, tzinfo=UTC),
    ends_at=datetime(2026, 5, 16, 0, 32, tzinfo=UTC),
    format="DCP",
    audio_languages=["fr", "ro"],
    subtitle_language="en",
    subtitle_mode="open",
    features=["assistive_listening", "hearing_loop", "subtitled"],
)
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
BOOKING = BookingFacts(
    booking_id=UUID("01900000-0000-7000-8000-000000000003"),
    reference="K7P2QXM",
    patron_name="Ana Pop",
    patron_email="ana@example.org",
    seats=[SeatLine("J1", "J", "wheelchair", "adult", 1500)],
    currency="USD",
    total=1500,
)


# -- retry decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "temporary"),
    [(None, True), (421, True), (450, True), (451, True), (452, True), (550, False), (554, False)],
)
def test_4xx_and_no_reply_are_temporary_5xx_permanent(code: int | None, temporary: bool) -> None:
    assert rules.is_temporary(code) is temporary


def test_after_a_failure_retry_until_the_last_attempt_then_give_up() -> None:
    assert rules.after_failure(451, 1, 3) == "retry"
    assert rules.after_failure(None, 2, 3) == "retry"
    assert rules.after_failure(451, 3, 3) == "exhausted"
    assert rules.after_failure(550, 1, 3) == "permanent"


@given(
    attempts=st.integers(1, 40),
    base=st.floats(0.01, 100),
    cap=st.floats(0.01, 10_000),
    spread=st.floats(0, 1),
)
def test_backoff_doubles_up_to_the_cap_within_a_quarter_either_way(
    attempts: int, base: float, cap: float, spread: float
) -> None:
    plain = min(cap, base * 2 ** (attempts - 1))
    delay = rules.backoff_seconds(attempts, base, cap, spread)
    assert plain * 0.75 - 1e-9 <= delay <= plain * 1.25 + 1e-9


def test_backoff_grows() -> None:
    delays = [rules.backoff_seconds(n, 30, 3600, 0.5) for n in range(1, 10)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays[-1] == 3600


def test_only_failed_or_sent_emails_can_be_resent() -> None:
    assert [s for s in ("queued", "sending", "sent", "failed") if rules.can_resend(s)] == [
        "sent",
        "failed",
    ]


def test_message_ids_stay_for_retries_and_change_for_resends() -> None:
    email_id = uuid4()
    assert rules.message_id(email_id, 0, "usher.invalid") == f"<{email_id}@usher.invalid>"
    assert rules.message_id(email_id, 2, "x.org") == f"<{email_id}.r2@x.org>"


def test_a_bookings_reminder_has_one_name_based_cause() -> None:
    booking = uuid4()
    assert rules.reminder_cause(booking) == rules.reminder_cause(booking)
    assert rules.reminder_cause(booking) != rules.reminder_cause(uuid4())
    assert rules.reminder_cause(booking).version == 5


def test_the_sender_domain_names_every_message_id() -> None:
    assert MailSettings(sender="Box Office <tickets@cinema.example>").sender_domain == (
        "cinema.example"
    )
    assert MailSettings(sender="tickets@cinema.example").sender_domain == "cinema.example"


# -- how facts read -------------------------------------------------------------------------------


def test_money_in_minor_units() -> None:
    assert present.money(1500, "USD") == "$15.00"
    assert present.money(123456, "EUR") == "€1,234.56"
    assert present.money(1200, "JPY") == "¥1,200"
    assert present.money(1200, "CHF") == "CHF 12.00"


def test_times_read_on_the_venues_clocks_across_daylight_saving() -> None:
    summer = datetime(2026, 5, 15, 23, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
    zone = "America/New_York"
    assert present.local_time(summer, zone) == "Friday 15 May 2026, 7:00 PM EDT"
    assert present.local_time(winter, zone) == "Thursday 3 December 2026, 7:30 PM EST"
    assert present.clock(datetime(2026, 1, 1, 5, 5, tzinfo=UTC), zone) == "12:05 AM"


def test_languages_in_words() -> None:
    assert present.languages(["fr", "ro", "zh", "nl"]) == "French, Romanian, Chinese and Dutch"
    assert present.languages(["en"]) == "English"
    assert present.language("pt-BR") == "Brazilian Portuguese"
    assert present.language("qaa") == "qaa"


def test_ticket_counts_and_seat_kinds() -> None:
    assert present.ticket_counts(["adult", "adult", "student"]) == "2 × Adult, 1 × Student"
    assert present.seat_kind("wheelchair") == "wheelchair space"
    assert present.seat_kind("standard") == ""


def test_accessibility_says_what_a_patron_decides_by() -> None:
    lines = present.accessibility(
        ["fr"], "en", "closed", ["closed_captions", "audio_description", "relaxed"], "Cinema 1"
    )
    assert lines[0] == "Spoken in French."
    assert "personal caption device" in lines[1]
    assert any("Closed-caption devices" in line for line in lines)
    assert any("Audio description" in line for line in lines)
    assert any("relaxed screening" in line for line in lines)
    assert not any("hearing loop" in line for line in lines)
    assert present.accessibility([], None, None, [], "Cinema 1") == ["No subtitles."]


def test_neckloops_are_offered_only_where_the_auditorium_has_them() -> None:
    def receivers(kinds: list[str]) -> str:
        lines = present.accessibility([], None, None, ["assistive_listening"], "Cinema 2", kinds)
        return lines[-1]

    assert receivers(["assistive_listening", "neckloop"]) == (
        "Assistive listening receivers, with headphones or a neckloop, are lent free at the "
        "box office."
    )
    assert "neckloop" not in receivers(["assistive_listening", "captioning"])
    assert "neckloop" not in receivers([])


# -- the ticket code and the calendar -------------------------------------------------------------


def test_the_ticket_code_cannot_be_made_without_the_ticket_key() -> None:
    one, two = "ticket-key-one-0123456789abcdef0123", "ticket-key-two-0123456789abcdef0123"
    code = ticket_codes.sign(one, BOOKING.booking_id, BOOKING.reference)
    assert code.startswith("USHER1:K7P2QXM:")
    assert ticket_codes.reference_of(code) == "K7P2QXM"
    assert ticket_codes.verify(code, BOOKING.booking_id, "K7P2QXM", [one])
    assert not ticket_codes.verify(code, BOOKING.booking_id, "K7P2QXM", [two])
    assert ticket_codes.verify(code, BOOKING.booking_id, "K7P2QXM", [two, one])  # rotated
    assert not ticket_codes.verify(code, uuid4(), "K7P2QXM", [one])  # another booking's
    assert ticket_codes.reference_of("USHER1:K7P2QXM") is None


def test_the_staff_token_key_does_not_mint_tickets() -> None:
    """Tickets are signed with a key of their own: one derived from USHER_SECRET_KEY for that
    purpose, or USHER_TICKET_KEY. A code made with the token key itself is refused, and the
    email carries a code only the ticket key makes."""
    auth = AuthSettings(secret="staff-token-key-0123456789abcdef-0123")
    (signing,) = auth.ticket_keys
    assert signing != auth.secret
    forged = ticket_codes.sign(auth.secret, BOOKING.booking_id, BOOKING.reference)
    assert not ticket_codes.verify(forged, BOOKING.booking_id, BOOKING.reference, auth.ticket_keys)
    settings = Settings(
        DatabaseSettings("x"), RedisSettings("x"), auth, BoxOfficeSettings(), MailSettings()
    )
    context = BookingConfirmedMail(occurred_at=NOW, screening=SCREENING, booking=BOOKING)
    (ticket,) = render.render("booking_confirmed", context, settings).tickets
    assert ticket.code != forged
    assert ticket_codes.verify(ticket.code, BOOKING.booking_id, BOOKING.reference, (signing,))
    own = AuthSettings(
        secret=auth.secret,
        ticket_key="a-ticket-key-of-its-own-0123456789abcdef",
        previous_ticket_keys=(signing,),
    )
    assert own.ticket_keys == ("a-ticket-key-of-its-own-0123456789abcdef", signing)


def _events(data: bytes) -> list[icalendar.Event]:
    return [c for c in icalendar.Calendar.from_ical(data).walk() if c.name == "VEVENT"]


def test_the_calendar_adds_then_removes_the_same_entry() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    added = calendar(
        BookingConfirmedMail(occurred_at=now, screening=SCREENING, booking=BOOKING),
        "PUBLISH",
        "usher.invalid",
    )
    removed = calendar(
        BookingCancelledMail(
            occurred_at=now + timedelta(days=1), screening=SCREENING, booking=BOOKING, by="patron"
        ),
        "CANCEL",
        "usher.invalid",
    )
    (first,), (second,) = _events(added), _events(removed)
    assert str(first["UID"]) == str(second["UID"]) == f"booking-{BOOKING.booking_id}@usher.invalid"
    assert first["DTSTART"].dt == SCREENING.starts_at
    assert first["DTEND"].dt == SCREENING.ends_at
    assert str(first["LOCATION"]) == (
        "Cinema 2, Riverside Picture House, 12 Water Street, Hudson, NY 12534"
    )
    assert str(first["STATUS"]) == "CONFIRMED"
    assert str(second["STATUS"]) == "CANCELLED"
    assert int(second["SEQUENCE"]) > int(first["SEQUENCE"])
    assert str(icalendar.Calendar.from_ical(removed)["METHOD"]) == "CANCEL"
    assert all(len(line) <= 75 for line in added.split(b"\r\n"))


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300))
def test_any_film_title_survives_the_calendar(title: str) -> None:
    film = msgspec.structs.replace(SCREENING, film_title=title)
    data = calendar(
        BookingConfirmedMail(occurred_at=SCREENING.starts_at, screening=film, booking=BOOKING),
        "PUBLISH",
        "usher.invalid",
    )
    for line in data.split(b"\r\n"):
        assert len(line) <= 75
        line.decode()  # never cut inside a character
    (event,) = _events(data)
    assert str(event["SUMMARY"]) == f"{title} at Riverside Picture House"


# -- MIME -----------------------------------------------------------------------------------------


def _parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    assert message.defects == []
    return message


def test_a_message_with_every_part_parses_back() -> None:
    body = mime.Multipart(
        "mixed",
        [
            mime.Multipart(
                "alternative",
                [
                    mime.text_part("plain", "Grüße, Ana\n.\nFrom the box office\n"),
                    mime.Multipart(
                        "related",
                        [
                            mime.text_part("html", "<p>Grüße</p>"),
                            mime.Part(
                                "image/png", b"\x89PNG\r\n", headers=(("Content-ID", "<q>"),)
                            ),
                        ],
                    ),
                ],
            ),
            mime.Part(
                'text/calendar; charset="utf-8"; method=PUBLISH',
                b"BEGIN:VCALENDAR\r\n",
                headers=(("Content-Disposition", 'attachment; filename="screening.ics"'),),
            ),
        ],
    )
    data = mime.message(
        [
            ("Subject", "Tickets for AMÉLIE on Friday 15 May 2026, 7:00 PM EDT (booking K7P2QXM)"),
            ("To", mime.address("Zoë Ünal", "zoe@example.org")),
            ("Message-ID", "<x@usher.invalid>"),
        ],
        body,
    )
    assert data.isascii()
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    message = _parse(data)
    assert message["Subject"] == (
        "Tickets for AMÉLIE on Friday 15 May 2026, 7:00 PM EDT (booking K7P2QXM)"
    )
    assert message["To"].addresses[0].display_name == "Zoë Ünal"
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == "Grüße, Ana\n.\nFrom the box office\n"
    parts = [p.get_content_type() for p in message.walk()]
    assert parts == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/calendar",
    ]
    (image,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert image.get_payload(decode=True) == b"\x89PNG\r\n"


def test_a_long_message_id_or_reference_reads_back_as_it_was_written() -> None:
    long_id = f"<device-reservation-{uuid4()}@box-office.riverside-pictures.example.org>"
    data = mime.message(
        [("Message-ID", long_id), ("References", long_id)], mime.text_part("plain", "hi\n")
    )
    assert f"References: {long_id}\r\n".encode() in data  # not folded before the id
    message = _parse(data)
    assert message["Message-ID"] == long_id
    assert message["References"] == long_id


@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=2000)
)
def test_any_text_survives_quoted_printable(text: str) -> None:
    data = mime.message([("Subject", "x")], mime.text_part("plain", text))
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    part = _parse(data)
    assert part.get_content().replace("\r\n", "\n") == text


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_no_text_adds_a_header_or_ends_the_headers(text: str) -> None:
    """Whatever a name or a subject holds (CR, LF, NEL, U+2028, a 400-letter word), the message
    has exactly our headers, each on its own lines, and the address it was written to."""
    data = mime.message(
        [("Subject", text), ("To", mime.address(text, mime.ascii_address("ana@example.org")))],
        mime.text_part("plain", "hi\n"),
    )
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    message = _parse(data)
    assert [name for name, _ in message.items()] == [
        "Subject",
        "To",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]
    assert [a.addr_spec for a in message["To"].addresses] == ["ana@example.org"]
    assert message.get_content().replace("\r\n", "\n") == "hi\n"


def test_a_header_that_would_break_its_line_is_never_written() -> None:
    assert mime.top_header("Subject", "Hi\r\nBcc: evil@attacker.example") == (
        b"Subject: Hi Bcc: evil@attacker.example\r\n"
    )
    with pytest.raises(ValueError, match="CR or LF"):  # the registry's own refusal
        mime.address("Ana", "ana@example.org\r\nBcc: evil@attacker.example")
    with pytest.raises(ValueError, match="not one e-mail address"):
        mime.ascii_address("v>,<evil@attacker.example")


def test_a_booking_email_says_what_its_total_includes() -> None:
    """The discount, the booking fees and the tax in the total, each only when there is one."""
    settings = Settings(
        DatabaseSettings("x"),
        RedisSettings("x"),
        AuthSettings(secret="k" * 40),
        BoxOfficeSettings(),
        MailSettings(),
    )
    plain = render.render(
        "booking_confirmed",
        BookingConfirmedMail(occurred_at=NOW, screening=SCREENING, booking=BOOKING),
        settings,
    )
    assert "Included" not in plain.text
    assert "Included" not in plain.html
    priced = msgspec.structs.replace(
        BOOKING,
        seats=[SeatLine("J1", "J", "wheelchair", "adult", 1450)],
        total=1450,
        discount_code="TEN",
        discount=150,
        fees=100,
        tax=82,
    )
    letter = render.render(
        "booking_confirmed",
        BookingConfirmedMail(occurred_at=NOW, screening=SCREENING, booking=priced),
        settings,
    )
    assert (
        "  Total: $14.50\n  Included: discount TEN -$1.50, booking fees $1.00, tax $0.82\n"
        in letter.text
    )
    for line in ("discount TEN", "-$1.50", "booking fees", "$1.00", "tax", "$0.82"):
        assert line in letter.html
    no_code = msgspec.structs.replace(priced, discount=0, discount_code=None, fees=0)
    text = render.render(
        "booking_confirmed",
        BookingConfirmedMail(occurred_at=NOW, screening=SCREENING, booking=no_code),
        settings,
    ).text
    assert "  Included: tax $0.82\n" in text
