"""Reading what the test SMTP server received: the parts of a message, its calendar file, and
the colours its HTML uses."""

from __future__ import annotations

import re
from email.message import EmailMessage

import icalendar


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_content_disposition() == "attachment"
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def images_of(message: EmailMessage) -> dict[str, bytes]:
    """Inline images by Content-ID (without the angle brackets)."""
    return {
        str(p["Content-ID"]).strip("<>"): p.get_payload(decode=True)
        for p in message.walk()
        if p.get_content_maintype() == "image"
    }


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two colours."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def colour_pairs(html: str) -> list[tuple[str, str]]:
    """(text colour, background) of each CSS rule that sets a colour; white unless the rule
    sets its own background."""
    pairs = []
    for body in re.findall(r"\{([^}]*)\}", html):
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", body)
        if colour:
            background = re.search(r"background-color:\s*(#[0-9a-fA-F]{3,6})", body)
            pairs.append((colour.group(1), background.group(1) if background else "#ffffff"))
    return pairs
