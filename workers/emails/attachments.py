"""What travels with an email besides its text: the ticket code for the door (as text and as a
QR code image), and a calendar entry (.ics) per booking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from datetime import UTC, datetime
from typing import Literal

import icalendar
import segno

from workers.emails.letters import BookingFacts, MailContext
from workers.emails.present import local_time

TICKET_PREFIX = "USHER1"
PRODUCT_ID = "-//Usher//Box office//EN"


def ticket_code(secret: str, booking: BookingFacts) -> str:
    """What the door scans: `USHER1:<reference>:<check>`. The check is an HMAC of the booking
    under USHER_SECRET_KEY, so a code cannot be made up from a reference alone; the door finds
    the booking by its reference and compares `ticket_code` (or asks the API)."""
    mac = hmac.new(
        secret.encode(), f"ticket:{booking.booking_id}:{booking.reference}".encode(), hashlib.sha256
    ).digest()
    check = base64.b32encode(mac[:10]).decode().rstrip("=")
    return f"{TICKET_PREFIX}:{booking.reference}:{check}"


def qr_png(code: str) -> tuple[bytes, int]:
    """The code as a QR code PNG (black on white, a quiet zone of 4), and its width in pixels."""
    qr = segno.make_qr(code, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=6, border=4)
    width, _ = qr.symbol_size(scale=6, border=4)
    return buffer.getvalue(), int(width)


def calendar(context: MailContext, method: Literal["PUBLISH", "CANCEL"], domain: str) -> bytes:
    """An iCalendar file with one event per booking. The UID is the booking's, so a later file
    (a rescheduled or cancelled screening) updates the same entry in the patron's calendar; the
    screening's version orders the updates (SEQUENCE)."""
    screening = context.screening
    cal = icalendar.Calendar()
    cal.add("prodid", PRODUCT_ID)
    cal.add("version", "2.0")
    cal.add("method", method)
    place = ", ".join([screening.auditorium_name, screening.venue_name, *screening.venue_address])
    for booking in context.bookings_of():
        seats = ", ".join(seat.label for seat in booking.seats)
        event = icalendar.Event()
        event.add("uid", f"booking-{booking.booking_id}@{domain}")
        event.add("dtstamp", _utc(context.occurred_at))
        event.add("sequence", screening.version + (1 if method == "CANCEL" else 0))
        event.add("dtstart", _utc(screening.starts_at))
        event.add("dtend", _utc(screening.ends_at))
        event.add("summary", f"{screening.film_title} at {screening.venue_name}")
        event.add("location", place)
        event.add(
            "description",
            f"Booking {booking.reference}. Seats: {seats}. "
            f"Starts {local_time(screening.starts_at, screening.time_zone)}.",
        )
        event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
