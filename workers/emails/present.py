"""How facts read in an email: money, times in the venue's zone, languages, seats and the
accessibility of a screening. Pure functions, used as Jinja filters by the templates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

# ISO 639 codes a cinema's programme commonly lists; any other code is shown as it is.
LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "ka": "Georgian", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "mn": "Mongolian",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish",
    "ta": "Tamil", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian",
    "ur": "Urdu", "vi": "Vietnamese", "wo": "Wolof", "yi": "Yiddish", "yue": "Cantonese",
    "zh": "Chinese", "ase": "American Sign Language", "bfi": "British Sign Language",
}  # fmt: skip
REGIONS = {"BR": "Brazilian", "PT": "European", "CA": "Canadian", "MX": "Mexican"}
# Currencies without minor units (ISO 4217 exponent 0); all others are shown with two decimals.
WHOLE_CURRENCIES = {"CLP", "ISK", "JPY", "KRW", "PYG", "UGX", "VND", "XAF", "XOF"}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}
SEAT_KINDS = {
    "wheelchair": "wheelchair space",
    "companion": "companion seat",
    "restricted_view": "restricted view",
    "aisle": "aisle seat",
}


def money(amount: int, currency: str) -> str:
    """An amount in minor units: `money(1500, "USD")` is "$15.00"."""
    currency = currency.strip().upper()
    value = f"{amount:,}" if currency in WHOLE_CURRENCIES else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{currency} {value}"


@lru_cache(maxsize=4096)
def local_time(moment: datetime, time_zone: str) -> str:
    """ "Friday 15 May 2026, 7:00 PM EDT": the time the venue's patrons read on its clocks."""
    local = moment.astimezone(ZoneInfo(time_zone))
    return f"{local_day(moment, time_zone)}, {clock(moment, time_zone)} {local.tzname()}"


@lru_cache(maxsize=4096)
def local_day(moment: datetime, time_zone: str) -> str:
    local = moment.astimezone(ZoneInfo(time_zone))
    return f"{local:%A} {local.day} {local:%B %Y}"


@lru_cache(maxsize=4096)
def clock(moment: datetime, time_zone: str) -> str:
    """ "7:00 PM" (12-hour, no leading zero)."""
    local = moment.astimezone(ZoneInfo(time_zone))
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def language(tag: str) -> str:
    """A language tag in words: "fr" French, "pt-BR" Brazilian Portuguese."""
    base, _, region = tag.partition("-")
    name = LANGUAGES.get(base.lower(), tag)
    qualifier = REGIONS.get(region.upper()) if region else None
    return f"{qualifier} {name}" if qualifier else name


def languages(tags: Iterable[str]) -> str:
    names = [language(tag) for tag in tags]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def seat_kind(kind: str) -> str:
    """What a seat's kind means to the patron ("" for a standard seat)."""
    return SEAT_KINDS.get(kind, "")


def ticket_type(name: str) -> str:
    return name.replace("_", " ").capitalize()


def ticket_counts(types: Iterable[str]) -> str:
    """ "2 × Adult, 1 × Student", in order of first appearance."""
    counts = Counter(types)
    return ", ".join(f"{n} × {ticket_type(name)}" for name, n in counts.items())


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def accessibility(
    audio_languages: list[str],
    subtitle_language: str | None,
    subtitle_mode: str | None,
    features: list[str],
    auditorium: str,
    device_kinds: Iterable[str] = (),
) -> list[str]:
    """The screening's access details, one sentence each, in the order a patron decides by."""
    lines: list[str] = []
    if audio_languages:
        lines.append(f"Spoken in {languages(audio_languages)}.")
    if subtitle_language:
        how = (
            "on the screen for everyone"
            if subtitle_mode == "open"
            else "on a personal caption device (ask at the box office)"
        )
        lines.append(f"{language(subtitle_language)} subtitles, {how}.")
    else:
        lines.append("No subtitles.")
    chosen = set(features)
    if "open_captions" in chosen:
        lines.append("Open captions for deaf and hard-of-hearing patrons.")
    if "closed_captions" in chosen:
        lines.append("Closed-caption devices are available at the box office.")
    if "hearing_loop" in chosen:
        lines.append(f"{auditorium} has a hearing loop: switch your hearing aid to T.")
    if "assistive_listening" in chosen:
        # A neckloop only where the auditorium has one in service.
        with_what = "headphones or a neckloop" if "neckloop" in device_kinds else "headphones"
        lines.append(
            f"Assistive listening receivers, with {with_what}, are lent free at the box office."
        )
    if "audio_description" in chosen:
        lines.append("Audio description is available on a headset from the box office.")
    if "relaxed" in chosen:
        lines.append(
            "A relaxed screening: lights low rather than off, softer sound, and you are free to "
            "move about and make noise."
        )
    return lines


FILTERS = {
    "money": money,
    "local_time": local_time,
    "local_day": local_day,
    "clock": clock,
    "language": language,
    "languages": languages,
    "seat_kind": seat_kind,
    "ticket_type": ticket_type,
    "ticket_counts": ticket_counts,
    "plural": plural,
}
