"""Shapes shared by every part of the API: problems, pages and small value types."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

import msgspec
from email_validator import EmailNotValidError, validate_email

T = TypeVar("T")

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it at the door, naming the field
# Control characters: C0 (NUL to US, so TAB, CR and LF too), DEL, C1 (NEL among them) and the
# Unicode line and paragraph separators. A one-line field (a name, a title, a reason, an address
# part) refuses them all: such a value may reach an email header, a calendar line, a log line or
# a CSV cell, where a line break starts something new (docs/security.md, "Hostile input").
CONTROLS = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
ONE_LINE = rf"^[^{CONTROLS}]*$"
# One line with something besides spaces in it: a patron's or a staff member's name.
NAMED = rf"^[^{CONTROLS}]*[^{CONTROLS}\s][^{CONTROLS}]*$"
# Free text in several lines (a synopsis, a screening's notes): TAB, LF and CR are kept, every
# other control character refused. It only ever reaches an email's body, never a header.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]*$"
REF_PATTERN = r"^[A-Za-z0-9-]{1,80}$"  # an id or a slug in a path or query

Slug = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=80)
]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=ONE_LINE)]
ShortText = Annotated[str, msgspec.Meta(max_length=200, pattern=ONE_LINE)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000, pattern=MULTI_LINE)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAMED)]
Note = Annotated[str, msgspec.Meta(max_length=500, pattern=ONE_LINE)]
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


# An e-mail address: one addr-spec (`local@domain`), no display name, no list, no comments. The
# pattern is only a first cut the API documents (nothing that could end a header or start a
# second address); `check_email` parses the address itself.
EmailAddress = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=rf'^[^{CONTROLS}\s<>,;:"()\[\]\\@]+@[^{CONTROLS}\s<>,;:"()\[\]\\@]+$',
        examples=["patron@example.org"],
        extra_json_schema={"format": "email"},
    ),
]


def check_email(field: str, address: str | None) -> None:
    """Parse `address` as one addr-spec (email-validator, with no DNS look-up): a Struct's
    `__post_init__` calls this for each of its address fields, so every way in (a request body,
    a test, a stored row converted back) refuses the same addresses. Internationalised domains
    are fine; a local part beyond ASCII is refused (it needs SMTPUTF8 of every relay on the way),
    and so are special-use domains such as `.invalid` and `.localhost` (`.test` aside: the demo
    data's). The error names the field; services/problems.py reads it from the message."""
    if address is None:
        return
    try:
        validate_email(
            address, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"Invalid e-mail address in field `{field}`: {exc}") from None
