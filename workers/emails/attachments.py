"""What travels with an email besides its text: the ticket code for the door as a QR code image
(the code itself: services/ticket_codes.py), and a calendar entry (.ics) per booking."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Literal

import segno

from workers.emails.letters import MailContext
from workers.emails.present import local_time

PRODUCT_ID = "-//Usher//Box office//EN"


def qr_png(code: str) -> tuple[bytes, int]:
    """The code as a QR code PNG (black on white, a quiet zone of 4), and its width in pixels."""
    qr = segno.make_qr(code, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=6, border=4)
    width, _ = qr.symbol_size(scale=6, border=4)
    return buffer.getvalue(), int(width)


def calendar(context: MailContext, method: Literal["PUBLISH", "CANCEL"], domain: str) -> bytes:
    """An iCalendar file (RFC 5545) with one event per booking. The UID is the booking's, so a
    later file (a rescheduled or cancelled screening) updates the same entry in the patron's
    calendar; the screening's version orders the updates (SEQUENCE).

    Written here rather than with the icalendar package, which took 2 ms of the 4 ms it takes
    to render an email; the tests parse every file back with icalendar."""
    screening = context.screening
    place = ", ".join([screening.auditorium_name, screening.venue_name, *screening.venue_address])
    cancel = method == "CANCEL"
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODUCT_ID}", "VERSION:2.0", f"METHOD:{method}"]
    for booking in context.bookings_of():
        seats = ", ".join(seat.label for seat in booking.seats)
        lines += [
            "BEGIN:VEVENT",
            f"UID:booking-{booking.booking_id}@{domain}",
            f"DTSTAMP:{_stamp(context.occurred_at)}",
            f"SEQUENCE:{screening.version + (1 if cancel else 0)}",
            f"DTSTART:{_stamp(screening.starts_at)}",
            f"DTEND:{_stamp(screening.ends_at)}",
            f"SUMMARY:{_text(f'{screening.film_title} at {screening.venue_name}')}",
            f"LOCATION:{_text(place)}",
            "DESCRIPTION:"
            + _text(
                f"Booking {booking.reference}. Seats: {seats}. "
                f"Starts {local_time(screening.starts_at, screening.time_zone)}."
            ),
            f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return b"".join(_fold(line) for line in lines)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value: backslash, semicolon, comma and line breaks escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> bytes:
    """The line in UTF-8, folded at 75 octets (never inside a character), ended by CRLF."""
    data = line.encode()
    if len(data) <= 75:
        return data + b"\r\n"
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            end -= 1
        parts.append(data[start:end])
        start, limit = end, 74  # continuation lines begin with a space
    return b"\r\n ".join(parts) + b"\r\n"
