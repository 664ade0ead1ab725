"""The programme: films, series, venues, auditoriums with seat maps, and screenings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.common import (
    CONTROLS,
    ONE_LINE,
    CountryCode,
    CurrencyCode,
    LanguageCode,
    LongText,
    MinorUnits,
    Ref,
    ShortText,
    Slug,
    Text,
    Url,
)

_ONE_WORD = rf"^[^{CONTROLS}\s]+$"  # a seat or row label: no spaces, no control characters
Rating = Annotated[
    str, msgspec.Meta(min_length=1, max_length=16, pattern=ONE_LINE, examples=["NR", "PG-13"])
]
SeatKind = Literal["standard", "wheelchair", "companion", "aisle", "restricted_view"]
Feature = Literal[
    "assistive_listening",
    "hearing_loop",
    "subtitled",
    "open_captions",
    "closed_captions",
    "audio_description",
    "relaxed",
]
FEATURES: tuple[str, ...] = Feature.__args__  # type: ignore[attr-defined]
ScreeningStatus = Literal["scheduled", "on_sale", "sold_out", "cancelled"]
RelationKind = Literal["follows", "related", "same_director"]
TicketType = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,30}$", examples=["adult"])]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]


class PressQuote(msgspec.Struct, frozen=True, omit_defaults=True):
    text: LongText
    critic: Text
    outlet: Text
    accolade: Text | None = None


class SeriesRef(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    title: str


class RelatedFilm(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    title: str
    year: int | None
    kind: RelationKind


class Film(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    title: str
    original_title: str | None
    directors: list[str]
    countries: list[str]
    year: int | None
    runtime_minutes: int
    rating: str
    synopsis: str
    spoken_languages: list[str]
    press_quotes: list[PressQuote]
    website: str | None
    series: list[SeriesRef]
    related: list[RelatedFilm]
    version: int


class RelatedFilmIn(msgspec.Struct, frozen=True):
    film: Ref
    kind: RelationKind = "related"


class FilmIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slug: Slug
    title: Text
    runtime_minutes: Annotated[int, msgspec.Meta(ge=1, le=1500)]
    original_title: Text | None = None
    directors: list[Text] = []
    countries: list[CountryCode] = []
    year: Annotated[int, msgspec.Meta(ge=1870, le=2200)] | None = None
    rating: Rating = "NR"
    synopsis: LongText = ""
    spoken_languages: list[LanguageCode] = []
    press_quotes: list[PressQuote] = []
    website: Url | None = None
    series: list[Slug] = []
    related: list[RelatedFilmIn] = []


class FilmPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only the fields present change; `null` clears an optional field."""

    title: Text | msgspec.UnsetType = msgspec.UNSET
    runtime_minutes: Annotated[int, msgspec.Meta(ge=1, le=1500)] | msgspec.UnsetType = msgspec.UNSET
    original_title: Text | msgspec.UnsetType | None = msgspec.UNSET
    directors: list[Text] | msgspec.UnsetType = msgspec.UNSET
    countries: list[CountryCode] | msgspec.UnsetType = msgspec.UNSET
    year: Annotated[int, msgspec.Meta(ge=1870, le=2200)] | msgspec.UnsetType | None = msgspec.UNSET
    rating: Rating | msgspec.UnsetType = msgspec.UNSET
    synopsis: LongText | msgspec.UnsetType = msgspec.UNSET
    spoken_languages: list[LanguageCode] | msgspec.UnsetType = msgspec.UNSET
    press_quotes: list[PressQuote] | msgspec.UnsetType = msgspec.UNSET
    website: Url | msgspec.UnsetType | None = msgspec.UNSET
    series: list[Slug] | msgspec.UnsetType = msgspec.UNSET


class FilmRef(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    title: str
    year: int | None
    runtime_minutes: int
    rating: str
    directors: list[str]
    spoken_languages: list[str]


class Series(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    title: str
    description: str
    films: list[FilmRef]


class SeriesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slug: Slug
    title: Text
    description: LongText = ""


class Address(msgspec.Struct, frozen=True):
    street: ShortText = ""
    locality: ShortText = ""
    region: ShortText = ""
    postal_code: ShortText = ""
    country: ShortText = ""


class AuditoriumSummary(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    name: str
    hearing_loop: bool
    capacity: int


class Venue(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    name: str
    time_zone: str
    address: Address
    website: str | None
    hold_minutes: int
    auditoriums: list[AuditoriumSummary]


class VenueIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slug: Slug
    name: Text
    time_zone: Annotated[
        str, msgspec.Meta(pattern=r"^[A-Za-z0-9_+\-/]{1,64}$", examples=["America/New_York"])
    ]
    address: Address = Address()
    website: Url | None = None
    hold_minutes: Annotated[int, msgspec.Meta(ge=1, le=120)] = 10


class Seat(msgspec.Struct, frozen=True):
    id: UUID
    label: str
    row_label: str
    row_number: int
    position: int
    x: float
    y: float
    kind: SeatKind


class SeatIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=12, pattern=_ONE_WORD)]
    row_label: Annotated[str, msgspec.Meta(min_length=1, max_length=8, pattern=_ONE_WORD)]
    row_number: Annotated[int, msgspec.Meta(ge=1, le=500)]
    position: Annotated[int, msgspec.Meta(ge=1, le=500)]
    x: float
    y: float
    kind: SeatKind = "standard"


class Auditorium(msgspec.Struct, frozen=True):
    id: UUID
    venue_id: UUID
    slug: str
    name: str
    hearing_loop: bool
    cleaning_minutes: int
    capacity: int
    seats: list[Seat]


class AuditoriumIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    venue_id: UUID
    slug: Slug
    name: Text
    seats: Annotated[list[SeatIn], msgspec.Meta(min_length=1, max_length=5000)]
    hearing_loop: bool = False
    cleaning_minutes: Minutes = 15


class Subtitles(msgspec.Struct, frozen=True):
    language: LanguageCode
    mode: Literal["open", "closed"] = "open"


class Price(msgspec.Struct, frozen=True):
    ticket_type: TicketType
    amount: MinorUnits


class AuditoriumRef(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    name: str
    hearing_loop: bool


class VenueRef(msgspec.Struct, frozen=True):
    id: UUID
    slug: str
    name: str
    time_zone: str


class Screening(msgspec.Struct, frozen=True):
    id: UUID
    film: FilmRef
    venue: VenueRef
    auditorium: AuditoriumRef
    starts_at: datetime
    ends_at: datetime
    local_date: date
    local_start: Annotated[
        str, msgspec.Meta(description="Start in the venue's time zone, ISO 8601.")
    ]
    format: str
    audio_languages: list[str]
    subtitles: Subtitles | None
    features: list[Feature]
    currency: str
    prices: list[Price]
    status: ScreeningStatus
    series: list[SeriesRef]
    notes: str
    version: int
    on_sale_at: Annotated[
        datetime | None,
        msgspec.Meta(description="A scheduled screening goes on sale at this time by itself."),
    ] = None


class ScreeningIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    film: Ref
    auditorium_id: UUID
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)]
    prices: Annotated[list[Price], msgspec.Meta(min_length=1, max_length=20)]
    trailer_minutes: Minutes = 0
    format: Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=ONE_LINE)] = "DCP"
    audio_languages: list[LanguageCode] = []
    subtitles: Subtitles | None = None
    features: list[Feature] = []
    currency: CurrencyCode = "USD"
    series: list[Slug] = []
    status: Literal["scheduled", "on_sale"] = "on_sale"
    notes: LongText = ""
    # With status "scheduled": the screening goes on sale at this time, by itself.
    on_sale_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class ScreeningPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Reschedule or amend a screening; only the fields present change."""

    starts_at: Annotated[datetime, msgspec.Meta(tz=True)] | msgspec.UnsetType = msgspec.UNSET
    trailer_minutes: Minutes | msgspec.UnsetType = msgspec.UNSET
    format: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=ONE_LINE)]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    audio_languages: list[LanguageCode] | msgspec.UnsetType = msgspec.UNSET
    subtitles: Subtitles | msgspec.UnsetType | None = msgspec.UNSET
    features: list[Feature] | msgspec.UnsetType = msgspec.UNSET
    prices: Annotated[list[Price], msgspec.Meta(min_length=1)] | msgspec.UnsetType = msgspec.UNSET
    series: list[Slug] | msgspec.UnsetType = msgspec.UNSET
    status: Literal["scheduled", "on_sale"] | msgspec.UnsetType = msgspec.UNSET
    notes: LongText | msgspec.UnsetType = msgspec.UNSET
    on_sale_at: Annotated[datetime, msgspec.Meta(tz=True)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )


class CancelScreeningIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=ONE_LINE)]
