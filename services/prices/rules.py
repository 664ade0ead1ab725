"""Pure pricing: which ticket goes on which held seat, each seat's breakdown (list price, discount,
booking fee, tax), whether a discount code or a membership may be used. No I/O and no clock
reads: callers pass the facts and the dates (docs/money.md, "Prices").

The arithmetic, in integers of minor units:
- discount: `percent` is round-half-up(list_price * percent / 100), `fixed` is
  min(code amount, list_price): never more than the ticket's price, so never below zero;
- fee: the venue's booking fee on each ticket whose list price is above zero;
- amount = list_price - discount + fee;
- tax is the part of amount that is tax, prices including it:
  round-half-up(amount * rate_bp / (10000 + rate_bp)), per seat;
- a booking's totals are the sums of its seats' figures, so the breakdown always adds up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol
from uuid import UUID

import msgspec

from schemas.box_office import TicketIn
from schemas.prices import DiscountCodeIn, DiscountKind, PricedSeat, PriceTotals
from services.errors import Conflict, InvalidInput, field_error

MEMBER = "member"  # the ticket type whose price needs a membership number
TAX_BASE = 10_000  # tax rates are in basis points
CODE_FIELD = "discount_code"


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def tax_share(amount: int, rate_bp: int) -> int:
    """The part of a tax-inclusive `amount` that is tax at `rate_bp` basis points."""
    return half_up(amount * rate_bp, TAX_BASE + rate_bp)


class Terms(msgspec.Struct, frozen=True):
    """A venue's price settings."""

    booking_fee: int = 0
    tax_rate_bp: int = 0
    member_tickets_per_booking: int = 2


class Discount(msgspec.Struct, frozen=True):
    code: str
    kind: DiscountKind
    amount: int


def line_discount(list_price: int, discount: Discount | None) -> int:
    if discount is None:
        return 0
    if discount.kind == "percent":
        return half_up(list_price * discount.amount, 100)
    return min(discount.amount, list_price)


class Chosen(msgspec.Struct, frozen=True):
    """A held seat's ticket as asked: `index` is the ticket's place in the request."""

    seat: str
    ticket_type: str
    list_price: int
    index: int
    membership_number: str | None = None


def price_line(chosen: Chosen, terms: Terms, discount: Discount | None) -> PricedSeat:
    off = line_discount(chosen.list_price, discount)
    fee = terms.booking_fee if chosen.list_price > 0 else 0
    amount = chosen.list_price - off + fee
    return PricedSeat(
        seat=chosen.seat,
        ticket_type=chosen.ticket_type,
        list_price=chosen.list_price,
        discount=off,
        fee=fee,
        tax=tax_share(amount, terms.tax_rate_bp),
        amount=amount,
        membership_number=chosen.membership_number,
    )


def price(chosen: Sequence[Chosen], terms: Terms, discount: Discount | None) -> list[PricedSeat]:
    return [price_line(ticket, terms, discount) for ticket in chosen]


class Figures(Protocol):
    """A priced seat as anything keeps it: a PricedSeat, a booked seat's row."""

    @property
    def list_price(self) -> int: ...
    @property
    def discount(self) -> int: ...
    @property
    def fee(self) -> int: ...
    @property
    def tax(self) -> int: ...
    @property
    def amount(self) -> int: ...


def totals(lines: Sequence[Figures]) -> PriceTotals:
    """A booking's totals: the sums of its seats' figures."""
    return PriceTotals(
        list_price=sum(line.list_price for line in lines),
        discount=sum(line.discount for line in lines),
        fee=sum(line.fee for line in lines),
        tax=sum(line.tax for line in lines),
        amount=sum(line.amount for line in lines),
    )


def choose_tickets(
    held: Sequence[str], tickets: Sequence[TicketIn], prices: Mapping[str, int]
) -> list[Chosen]:
    """The ticket of every held seat (labels, in the hold's order): each held seat needs exactly
    one ticket, of a type the screening sells."""
    holding = set(held)
    chosen: dict[str, Chosen] = {}
    for index, ticket in enumerate(tickets):
        if ticket.seat not in holding:
            raise InvalidInput(
                f"seat {ticket.seat} is not in this hold",
                field=f"tickets[{index}].seat",
                reason="not in the hold",
            )
        if ticket.seat in chosen:
            raise InvalidInput(
                f"seat {ticket.seat} has two tickets",
                field=f"tickets[{index}].seat",
                reason="duplicate",
            )
        if ticket.ticket_type not in prices:
            raise InvalidInput(
                f"this screening sells no {ticket.ticket_type!r} tickets"
                f" (it sells {', '.join(sorted(prices))})",
                field=f"tickets[{index}].ticket_type",
                reason="not sold for this screening",
            )
        chosen[ticket.seat] = Chosen(
            seat=ticket.seat,
            ticket_type=ticket.ticket_type,
            list_price=prices[ticket.ticket_type],
            index=index,
            membership_number=ticket.membership_number,
        )
    missing = [label for label in held if label not in chosen]
    if missing:
        raise InvalidInput(
            f"every held seat needs a ticket; missing: {', '.join(missing)}",
            field="tickets",
            reason="a held seat has no ticket",
        )
    return [chosen[label] for label in held]


class MemberFacts(msgspec.Struct, frozen=True):
    number: str
    valid_from: date
    expires_on: date
    active: bool


def check_members(
    chosen: Sequence[Chosen], members: Mapping[str, MemberFacts], on: date, cap: int
) -> None:
    """A member price needs a membership number from the venue's list, active and valid on
    `on` (the screening's date); at most `cap` member tickets in one booking. A membership
    number on any other ticket is refused rather than kept unchecked."""
    count = 0
    for ticket in sorted(chosen, key=lambda t: t.index):
        field = f"tickets[{ticket.index}].membership_number"
        number = ticket.membership_number
        if ticket.ticket_type != MEMBER:
            if number is not None:
                raise InvalidInput(
                    "a membership number goes only with a member ticket",
                    field=field,
                    reason="not a member ticket",
                )
            continue
        count += 1
        if count > cap:
            raise InvalidInput(
                f"at most {cap} member tickets in one booking",
                field=f"tickets[{ticket.index}].ticket_type",
                reason=f"more than {cap} member tickets",
            )
        if number is None:
            raise InvalidInput(
                "a member price needs the member's membership number",
                field=field,
                reason="missing",
            )
        member = members.get(number)
        if member is None:
            raise InvalidInput(
                f"no membership {number} at this venue", field=field, reason="unknown membership"
            )
        if not member.active:
            raise InvalidInput(
                f"membership {number} is no longer active", field=field, reason="not active"
            )
        if member.expires_on < on:
            raise InvalidInput(
                f"membership {number} expired on {member.expires_on} (the screening is on {on})",
                field=field,
                reason="expired",
            )
        if member.valid_from > on:
            raise InvalidInput(
                f"membership {number} starts on {member.valid_from} (the screening is on {on})",
                field=field,
                reason="not yet valid",
            )


class CodeFacts(msgspec.Struct, frozen=True):
    id: UUID
    code: str
    kind: DiscountKind
    amount: int
    film_id: UUID | None
    series_id: UUID | None
    screening_ids: list[UUID] | None
    valid_from: date | None
    valid_until: date | None
    max_uses: int | None
    per_patron_limit: int | None
    active: bool

    def discount(self) -> Discount:
        return Discount(code=self.code, kind=self.kind, amount=self.amount)


class ShowFacts(msgspec.Struct, frozen=True):
    """What a code is checked against: the screening, its film, its series (its own and its
    film's), its date in the venue's time zone."""

    screening_id: UUID
    film_id: UUID
    series_ids: frozenset[UUID]
    on: date


def normal_code(text: str) -> str:
    """Codes are compared without case: stored and looked up upper-case."""
    return text.strip().upper()


def _refused(detail: str, reason: str) -> InvalidInput:
    return InvalidInput(detail, field=CODE_FIELD, reason=reason)


def check_code(code: CodeFacts, show: ShowFacts, today: date) -> None:
    """The code may be used for this screening (each restriction set must hold)."""
    if not code.active:
        raise _refused(f"the code {code.code} is no longer active", "not active")
    if code.valid_until is not None and code.valid_until < today:
        raise _refused(f"the code {code.code} expired on {code.valid_until}", "expired")
    if code.valid_until is not None and show.on > code.valid_until:
        raise _refused(
            f"the code {code.code} is for screenings until {code.valid_until}",
            "not valid on the screening's date",
        )
    if code.valid_from is not None and show.on < code.valid_from:
        raise _refused(
            f"the code {code.code} is for screenings from {code.valid_from}",
            "not valid on the screening's date",
        )
    if code.film_id is not None and code.film_id != show.film_id:
        raise _refused(f"the code {code.code} is for another film", "not valid for this film")
    if code.series_id is not None and code.series_id not in show.series_ids:
        raise _refused(
            f"the code {code.code} is for another series", "not valid for this screening"
        )
    if code.screening_ids is not None and show.screening_id not in code.screening_ids:
        raise _refused(
            f"the code {code.code} is for other screenings", "not valid for this screening"
        )


def check_code_limits(code: CodeFacts, uses: int, patron_uses: int) -> None:
    """Room for one more use: `uses` and `patron_uses` count the other holds and bookings that
    use the code (all, and this patron's)."""
    if code.max_uses is not None and uses >= code.max_uses:
        raise Conflict(
            f"the code {code.code} has been used up",
            reason="used up",
            errors=[field_error(CODE_FIELD, "used up")],
        )
    if code.per_patron_limit is not None and patron_uses >= code.per_patron_limit:
        raise Conflict(
            f"the code {code.code} may be used {code.per_patron_limit} time(s) per patron",
            reason="patron limit reached",
            errors=[field_error(CODE_FIELD, "patron limit reached")],
        )


def check_new_code(data: DiscountCodeIn) -> None:
    """A code staff create: a percent is at most 100; the date range runs forwards; the listed
    screenings are not empty."""
    if data.kind == "percent" and data.amount > 100:
        raise InvalidInput("a percent discount is at most 100", field="amount", reason="over 100")
    if (
        data.valid_from is not None
        and data.valid_until is not None
        and data.valid_until < data.valid_from
    ):
        raise InvalidInput(
            "valid_until is before valid_from", field="valid_until", reason="before valid_from"
        )
    if data.screening_ids is not None and not data.screening_ids:
        raise InvalidInput(
            "list the screenings, or leave screening_ids out",
            field="screening_ids",
            reason="empty",
        )


def check_membership_dates(valid_from: date, expires_on: date) -> None:
    if expires_on < valid_from:
        raise InvalidInput(
            "expires_on is before valid_from", field="expires_on", reason="before valid_from"
        )
