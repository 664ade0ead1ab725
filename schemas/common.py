"""Shapes shared by every part of the API: problems, pages and small value types."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

import msgspec

T = TypeVar("T")

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it at the door, naming the field
REF_PATTERN = r"^[A-Za-z0-9-]{1,80}$"  # an id or a slug in a path or query

Slug = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=80)
]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NO_NUL)]
ShortText = Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000, pattern=NO_NUL)]
Ref = Annotated[str, msgspec.Meta(pattern=REF_PATTERN, description="An id or a slug.")]
LanguageCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$",
        description="A BCP 47 language tag such as `fr`, `zh` or `pt-BR`.",
    ),
]
CountryCode = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="An ISO 3166-1 alpha-2 code such as `BE`.")
]
CurrencyCode = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="An ISO 4217 code such as `USD`.")
]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://\S+$", max_length=2000)]
MinorUnits = Annotated[
    int, msgspec.Meta(ge=0, le=100_000_000, description="An amount in minor units.")
]


class Page(msgspec.Struct, Generic[T], frozen=True):
    """One page of a list; pass `next_cursor` back as `cursor` for the next page (null: the end)."""

    items: list[T]
    next_cursor: str | None = None


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """What is wrong and where: `field` as the client named it (a body path such as
    `seats[2]`, a query parameter, a header); `pointer` is a JSON Pointer into the body (`#` for
    the body as a whole) and is given for body fields only."""

    field: str
    reason: str
    source: Literal["body", "query", "path", "header", "cookie"] = "body"
    pointer: str | None = None


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem: every error Usher answers has this shape (media type
    application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[FieldError] | None = None
