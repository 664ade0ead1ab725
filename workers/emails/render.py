"""Rendering an email from its row: the subject, a plain-text part and an accessible HTML part
from the kind's templates (templates/), the QR codes of its tickets inline, its calendar file
attached, and the headers (the row's Message-ID, From, To, Date, Auto-Submitted)."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import msgspec

from services import ticket_codes
from services.door import codes as door_codes
from services.door.rules import number_tickets
from services.settings import Settings
from workers.emails import mime
from workers.emails.attachments import calendar, qr_png
from workers.emails.kinds import KINDS
from workers.emails.letters import BookingFacts, MailContext
from workers.emails.present import FILTERS, accessibility

TEMPLATES = Path(__file__).resolve().parent / "templates"


class Ticket(msgspec.Struct, frozen=True):
    """A code to scan at the door: a booking's (the whole party), or one seat's (`seat`)."""

    reference: str
    code: str
    cid: str
    png: bytes
    width: int
    seat: str = ""


class Rendered(msgspec.Struct, frozen=True):
    subject: str
    text: str
    html: str
    tickets: list[Ticket]
    calendar: bytes | None
    calendar_method: str | None


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # HTML templates escape what they show; a subject (rendered from a string) and the
        # plain-text part are not HTML: `Harold & Maude` stays as it is there
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates are read once per process
    )
    env.filters.update(FILTERS)
    return env


@cache
def _subject(source: str) -> jinja2.Template:
    return environment().from_string(source)


def decode_context(kind: str, raw: Any) -> MailContext:
    """The row's stored context as its kind's Struct."""
    return msgspec.convert(raw, KINDS[kind].context)


def render(kind: str, context: MailContext, settings: Settings) -> Rendered:
    """Subject, text and HTML from the kind's templates, with the ticket codes (and their QR
    images) and the calendar file the kind carries."""
    spec = KINDS[kind]
    screening = context.screening
    tickets = []
    seat_tickets: dict[str, list[Ticket]] = {}
    signing_key = settings.auth.ticket_keys[0]
    if spec.tickets:
        for booking in context.bookings_of():
            code = ticket_codes.sign(signing_key, booking.booking_id, booking.reference)
            png, width = qr_png(code)
            tickets.append(
                Ticket(booking.reference, code, f"ticket-{booking.reference}", png, width)
            )
            seat_tickets[booking.reference] = _seat_tickets(settings, booking)
            tickets += seat_tickets[booking.reference]
    values: dict[str, Any] = {field: getattr(context, field) for field in context.__struct_fields__}
    subject = " ".join(_subject(spec.subject).render(values).split())
    values.update(
        subject=subject,
        tickets={ticket.reference: ticket for ticket in tickets if not ticket.seat},
        seat_tickets=seat_tickets,
        access=accessibility(
            screening.audio_languages,
            screening.subtitle_language,
            screening.subtitle_mode,
            screening.features,
            screening.auditorium_name,
            screening.device_kinds,
        ),
        public_url=settings.public_url.rstrip("/"),
    )
    env = environment()
    text = env.get_template(f"{kind}.txt.j2").render(values)
    html = env.get_template(f"{kind}.html.j2").render(values)
    ics = None
    if spec.calendar and context.bookings_of():  # a patron with a device only has no entry
        ics = calendar(context, spec.calendar, settings.mail.sender_domain)
    return Rendered(subject, text, html, tickets, ics, spec.calendar)


def _seat_tickets(settings: Settings, booking: BookingFacts) -> list[Ticket]:
    """One signed code per seat (services/door/codes.py), in ticket-number order; none while
    no door signing key is set."""
    keys = door_codes.keyring(settings.door.signing_keys)
    numbers = number_tickets(seat.label for seat in booking.seats)
    made = []
    for label, number in sorted(numbers.items(), key=lambda item: item[1]):
        code = door_codes.sign(keys, booking.booking_id, number)
        if code is None:
            return []
        png, width = qr_png(code)
        cid = f"ticket-{booking.reference}-{number}"
        made.append(Ticket(booking.reference, code, cid, png, width, seat=label))
    return made


def compose(
    rendered: Rendered,
    *,
    recipient: str,
    recipient_name: str,
    message_id: str,
    settings: Settings,
    now: datetime,
    kind: str,
    thread: str | None = None,
) -> bytes:
    """The message as sent: multipart/alternative (text, then the HTML with its QR images
    related), inside multipart/mixed with the calendar file when there is one."""
    html: mime.Part | mime.Multipart = mime.text_part("html", rendered.html)
    if rendered.tickets:
        images = [
            mime.Part(
                "image/png",
                ticket.png,
                headers=(
                    ("Content-ID", f"<{ticket.cid}>"),
                    ("Content-Disposition", f'inline; filename="ticket-{ticket.reference}.png"'),
                ),
            )
            for ticket in rendered.tickets
        ]
        html = mime.Multipart("related", [html, *images])
    body: mime.Part | mime.Multipart = mime.Multipart(
        "alternative", [mime.text_part("plain", rendered.text), html]
    )
    if rendered.calendar is not None:
        method = rendered.calendar_method or "PUBLISH"
        name = "cancelled.ics" if method == "CANCEL" else "screening.ics"
        calendar_part = mime.Part(
            f'text/calendar; charset="utf-8"; method={method}',
            rendered.calendar,
            headers=(("Content-Disposition", f'attachment; filename="{name}"'),),
        )
        body = mime.Multipart("mixed", [body, calendar_part])
    headers: list[tuple[str, str | Address]] = [
        ("Subject", rendered.subject),
        ("From", _from(settings.mail.sender)),
        ("To", mime.address(recipient_name, mime.ascii_address(recipient))),
        ("Date", format_datetime(now)),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834: no vacation replies, please
        ("X-Usher-Kind", kind),
    ]
    if thread:
        headers.append(("References", thread))
    return mime.message(headers, body)


@cache
def _sender(sender: str) -> tuple[str, str]:
    return parseaddr(sender)


@cache
def _from(sender: str) -> Address:
    return mime.address(*_sender(sender))


def envelope_sender(settings: Settings) -> str:
    """The address in MAIL FROM (bounces go there): the sender's address without its name."""
    return _sender(settings.mail.sender)[1]
