"""The demo programme: HERE (Bas Devos, 2024) in the Passports series, as on the cinema's listing,
with GHOST TROPIC (2019), one venue with two auditoriums, and screenings on the coming Friday to
Tuesday, dated from the day the data is loaded so that they can be booked."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from schemas.access import DeviceIn, DeviceKind
from schemas.catalog import (
    Address,
    AuditoriumIn,
    FilmIn,
    PressQuote,
    Price,
    RelatedFilmIn,
    ScreeningIn,
    SeatIn,
    SeatKind,
    SeriesIn,
    Subtitles,
    VenueIn,
)
from schemas.staff import Role
from services.access import rules as access_rules
from services.access import service as access
from services.catalog import service
from services.catalog.rules import coming_friday
from services.errors import Conflict
from services.staff import store as staff_store
from services.staff.passwords import hash_password

TIME_ZONE = "America/New_York"
DEMO_MANAGER = ("manager@usher.test", "usher-demo-manager")
DEMO_STAFF = ("staff@usher.test", "usher-demo-staff")
PRICES = [
    Price("adult", 1500),
    Price("senior", 1200),
    Price("student", 1200),
    Price("member", 1000),
]

HERE_SYNOPSIS = """\
HERE follows Stefan, a Romanian construction worker living in Brussels who is about to
return home to visit his mother, and maybe stay…longer. Using the leftovers from his fridge,
he cooks up a big pot of soup and begins handing it out as farewell gifts to friends and
family. But while waiting for his car to be fixed, he meets Shuxiu, a Belgian-Chinese woman
preparing a doctorate on mosses. Her attention to the near-invisible stops him in his
tracks. On the heels of GHOST TROPIC (2019), Bas Devos offers another Brussels city
symphony. With a quiet grace that’s becoming a trademark, he and his team capture both the
longing of contemporary urban life and the potential for enchantment that still exists in
spaces shared by strangers from different worlds.
""".replace("\n", " ").strip()

HERE_QUOTES = [
    PressQuote(
        text="One-word titles like that of the Belgian writer and director Bas Devos’s HERE can "
        "create a minuet of meaning. In this hushed drama that gently rebuffs the beats of a love "
        "story even as it hints at one, the word is a call for the viewer’s attention and an "
        "acknowledgment of place..",
        critic="Manohla Dargis",
        outlet="New York Times",
        accolade="NYT Critic’s Pick",
    ),
    PressQuote(
        text="A movie of quiet magnificence, one that feels spun of gossamer summer light and "
        "rooted in unshakeable depths… [A] profound yet miraculously weightless feature.",
        critic="Sheri Linden",
        outlet="Hollywood Reporter",
    ),
    PressQuote(
        text="It might be the most benevolent film of this year… A film flush with everyday "
        "pleasures... an almost-perfect little film.",
        critic="Rory O'Connor",
        outlet="The Film Stage",
    ),
    PressQuote(
        text="Establishing a deeper connection with the world — whether through exchanging "
        "stories with the recipients of his soup, exploring the lush forest on the outskirts of "
        "Brussels, pursuing a budding romance with a fellow immigrant, or a combination of the "
        "three — appears to be a potential cure for what ails Stefan. HERE presents this theme "
        "with a modesty that seems to radiate from Stefan himself, offering his world to us "
        "through rich, dreamy imagery and with an endearing simplicity.",
        critic="Pat Brown",
        outlet="Slant Magazine",
    ),
    PressQuote(
        text="Remarkable… A quietly overwhelming study of human connection and our relationship "
        "with the natural world.",
        critic="Tim Grierson",
        outlet="Screen Daily",
    ),
]


@cache
def _demo_password_hash(password: str) -> str:
    """Hashed once per process: argon2 is slow on purpose, and the demo passwords are fixed."""
    return hash_password(password)


def _row_letter(index: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index]


def large_seat_map() -> list[SeatIn]:
    """Cinema 1: rows A–L of 24 seats (a centre aisle after seat 12), and row M at the cross
    aisle with four wheelchair spaces, each beside a companion seat, and four standard seats:
    300 places in all."""
    seats: list[SeatIn] = []
    for r in range(12):
        row = _row_letter(r)
        for n in range(1, 25):
            kind: SeatKind = "aisle" if n in (1, 12, 13, 24) else "standard"
            if row == "L" and n in (1, 24):
                kind = "restricted_view"
            x = float(n + (1 if n > 12 else 0))
            seats.append(SeatIn(f"{row}{n}", row, r + 1, n, x, float(r + 1), kind))
    layout: tuple[SeatKind, ...] = (
        "wheelchair", "companion", "standard", "standard", "wheelchair", "companion",
        "companion", "wheelchair", "standard", "standard", "companion", "wheelchair",
    )  # fmt: skip
    for n, kind in enumerate(layout, start=1):
        seats.append(SeatIn(f"M{n}", "M", 13, n, float(n * 2), 13.5, kind))
    return seats


def small_seat_map() -> list[SeatIn]:
    """Cinema 2: rows A–H of 11 seats, and row J with two wheelchair spaces and companions."""
    seats: list[SeatIn] = []
    for r in range(8):
        row = _row_letter(r)
        for n in range(1, 12):
            kind: SeatKind = "aisle" if n in (1, 11) else "standard"
            seats.append(SeatIn(f"{row}{n}", row, r + 1, n, float(n), float(r + 1), kind))
    back: tuple[SeatKind, ...] = ("wheelchair", "companion", "companion", "wheelchair")
    for n, kind in enumerate(back, start=1):
        seats.append(SeatIn(f"J{n}", "J", 9, n, float(n * 2), 9.5, kind))
    return seats


def demo_inventory(cinema_1: UUID, cinema_2: UUID) -> list[DeviceIn]:
    """The devices of a two-screen house as US rules count them: per auditorium, the receivers of
    ADA 219.3 (Cinema 1, 300 seats: 12, a quarter of them neckloops for hearing aids; Cinema 2,
    92 seats: 4, all with headphones, since its hearing loop serves hearing aids directly), tuned
    to their auditorium; and, for the house, the captioning and audio-description devices of
    28 CFR 36.303(g), which work in either auditorium."""
    units: list[DeviceIn] = []

    def add(prefix: str, kind: DeviceKind, count: int, room: UUID | None, first: int) -> None:
        for n in range(first, first + count):
            units.append(DeviceIn(f"{prefix}-{n:02d}", kind, room))

    rooms = (
        (1, cinema_1, len(large_seat_map()), False),
        (2, cinema_2, len(small_seat_map()), True),
    )
    for number, room, seats, loop in rooms:
        receivers = access_rules.required_receivers(seats)
        neckloops = access_rules.required_hearing_aid_compatible(seats, loop)
        add("ALS", "assistive_listening", receivers - neckloops, room, number * 100 + 1)
        add("NL", "neckloop", neckloops, room, number * 100 + 1)
    add("CC", "captioning", access_rules.required_captioning(2), None, 1)
    add("AD", "audio_description", access_rules.required_audio_description(2), None, 1)
    return units


def demo_times(today: date) -> list[tuple[datetime, str]]:
    """(start, film slug) for Friday to Tuesday, at a repertory house's usual hours."""
    zone = ZoneInfo(TIME_ZONE)
    friday = coming_friday(today)
    plan = {
        0: [("here", time(16, 0)), ("here", time(19, 0)), ("ghost-tropic", time(21, 15))],
        1: [("here", time(13, 30)), ("here", time(16, 0)), ("here", time(19, 0))],
        2: [("here", time(13, 30)), ("here", time(16, 0)), ("ghost-tropic", time(18, 30))],
        3: [("here", time(19, 0))],
        4: [("here", time(16, 0)), ("here", time(19, 0))],
    }
    out = []
    for offset, shows in plan.items():
        day = friday + timedelta(days=offset)
        for slug, at in shows:
            out.append((datetime.combine(day, at, tzinfo=zone), slug))
    return out


def _screening(slug: str, auditorium_id: UUID, starts_at: datetime) -> ScreeningIn:
    here = slug == "here"
    return ScreeningIn(
        film=slug,
        auditorium_id=auditorium_id,
        starts_at=starts_at,
        prices=PRICES,
        trailer_minutes=10,
        format="DCP",
        audio_languages=["fr", "ro", "zh", "nl"] if here else ["fr", "nl"],
        subtitles=Subtitles("en", "open"),
        features=["assistive_listening", "subtitled"],
        currency="USD",
    )


SOON_MINUTES = 20  # inside the device pick-up lead (30 min by default): the desk can lend


async def screening_soon(conn: asyncpg.Connection, now: datetime) -> datetime | None:
    """Something to do now: unless a demo screening starts within the hour, schedule HERE in
    Cinema 2 (or Cinema 1, if Cinema 2 is taken then) SOON_MINUTES from now, so that a device can
    be checked out at the desk and tickets scanned at once. Its start, or None if none was added."""
    rooms = await conn.fetch(
        "SELECT a.id FROM auditorium a JOIN venue v ON v.id = a.venue_id"
        " WHERE v.slug = 'riverside' ORDER BY a.slug DESC"  # cinema-2 first
    )
    busy = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM screening WHERE auditorium_id = ANY($1::uuid[])"
        " AND status <> 'cancelled' AND starts_at > $2 AND starts_at <= $2 + interval '1 hour')",
        [room["id"] for room in rooms],
        now,
    )
    if busy or not rooms:
        return None
    starts_at = (now + timedelta(minutes=SOON_MINUTES + 5)).replace(second=0, microsecond=0)
    starts_at -= timedelta(minutes=starts_at.minute % 5)  # on the five minutes
    for room in rooms:
        try:
            async with conn.transaction():
                await service.schedule_screening(
                    conn, None, _screening("here", room["id"], starts_at)
                )
        except Conflict:
            continue
        return starts_at
    return None


async def load_demo_data(conn: asyncpg.Connection, today: date) -> bool:
    """Load the demo programme and staff once; False when it is already there."""
    if await conn.fetchval("SELECT 1 FROM venue WHERE slug = 'riverside'"):
        return False
    async with conn.transaction():
        venue = await service.add_venue(
            conn,
            None,
            VenueIn(
                slug="riverside",
                name="Riverside Picture House",
                time_zone=TIME_ZONE,
                address=Address("12 Water Street", "Hudson", "NY", "12534", "US"),
                hold_minutes=10,
            ),
        )
        big = await service.add_auditorium(
            conn,
            None,
            AuditoriumIn(venue.id, "cinema-1", "Cinema 1", large_seat_map(), False, 20),
        )
        small = await service.add_auditorium(
            conn,
            None,
            AuditoriumIn(venue.id, "cinema-2", "Cinema 2", small_seat_map(), True, 15),
        )
        now = datetime.now(UTC)
        for unit in demo_inventory(big.id, small.id):
            await access.add_device(conn, None, venue.id, unit, now)
        await service.add_series(
            conn,
            None,
            SeriesIn(
                slug="passports",
                title="Passports: An International Film Series",
                description="New cinema from around the world, in its original languages.",
            ),
        )
        await service.publish_film(
            conn,
            None,
            FilmIn(
                slug="ghost-tropic",
                title="GHOST TROPIC",
                runtime_minutes=85,
                directors=["Bas Devos"],
                countries=["BE"],
                year=2019,
                rating="NR",
                synopsis=(
                    "After a long day's work, Khadija, a cleaning woman, falls asleep on the last "
                    "metro and wakes at the end of the line. Her journey home on foot through "
                    "nocturnal Brussels becomes a quiet odyssey of chance encounters."
                ),
                spoken_languages=["fr", "nl"],
            ),
        )
        await service.publish_film(
            conn,
            None,
            FilmIn(
                slug="here",
                title="HERE",
                runtime_minutes=82,
                directors=["Bas Devos"],
                countries=["BE"],
                year=2024,
                rating="NR",
                synopsis=HERE_SYNOPSIS,
                spoken_languages=["fr", "ro", "zh", "nl"],
                press_quotes=HERE_QUOTES,
                website="https://here.example.org/",
                series=["passports"],
                related=[RelatedFilmIn(film="ghost-tropic", kind="follows")],
            ),
        )
        for starts_at, slug in demo_times(today):
            here = slug == "here"
            await service.schedule_screening(
                conn, None, _screening(slug, small.id if here else big.id, starts_at)
            )
        accounts: tuple[tuple[tuple[str, str], Role, str], ...] = (
            (DEMO_MANAGER, "manager", "Demo Manager"),
            (DEMO_STAFF, "staff", "Demo Staff"),
        )
        for (email, password), role, name in accounts:
            await staff_store.create_staff(
                conn, email=email, name=name, role=role, password_hash=_demo_password_hash(password)
            )
    return True
