"""Prices steps: pricing a hold (inside the caller's transaction), and the staff's discount
codes, memberships and venue price settings (each one transaction with its audit row)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.box_office import ConfirmIn
from schemas.prices import (
    Breakdown,
    DiscountCode,
    DiscountCodeIn,
    Membership,
    MembershipIn,
    VenuePrices,
    VenuePricesIn,
)
from schemas.staff import StaffMember
from services.audit import record_action
from services.errors import InvalidInput
from services.ids import uuid7
from services.prices import rules, store


async def price_hold(
    conn: asyncpg.Connection,
    hold_id: UUID,
    screening_id: UUID,
    seats: Sequence[str],
    data: ConfirmIn,
    now: datetime,
) -> Breakdown:
    """Price the tickets `data` asks for on a hold's seats (`seats`: its labels, in the hold's
    order), checking memberships, and take the discount code's use for the hold. Runs in the
    caller's transaction, the hold's row already locked; the use is the booking's once a booking
    is made from this hold, and counts no more if the hold ends without one. A use this hold
    already took of the same code (at checkout) is kept without checking the code again: the
    patron was promised that price."""
    if not conn.is_in_transaction():
        raise RuntimeError("price_hold runs inside the transaction that books or checks out")
    terms = await store.screening_terms(conn, screening_id, now)
    chosen = rules.choose_tickets(seats, data.tickets, terms.prices)
    numbers = sorted({t.membership_number for t in chosen if t.membership_number is not None})
    members = await store.members_by_number(conn, terms.venue_id, numbers)
    rules.check_members(chosen, members, terms.show.on, terms.terms.member_tickets_per_booking)
    discount = None
    if data.discount_code is None:
        await store.drop_use(conn, hold_id)
    else:
        code = await store.lock_code(conn, terms.venue_id, rules.normal_code(data.discount_code))
        if code is None:
            raise InvalidInput(
                "there is no such discount code at this venue",
                field=rules.CODE_FIELD,
                reason="unknown code",
            )
        if await store.use_of_hold(conn, hold_id) != code.id:
            rules.check_code(code, terms.show, terms.today)
            email = data.patron.email.lower()
            uses, patron_uses = await store.count_uses(conn, code.id, hold_id, email, now)
            rules.check_code_limits(code, uses, patron_uses)
            await store.take_use(conn, code.id, hold_id, email, now)
        discount = code.discount()
    lines = rules.price(chosen, terms.terms, discount)
    return Breakdown(
        currency=terms.currency,
        seats=lines,
        totals=rules.totals(lines),
        discount_code=None if discount is None else discount.code,
    )


async def create_code(
    conn: asyncpg.Connection, by: StaffMember, venue_id: UUID, data: DiscountCodeIn, now: datetime
) -> DiscountCode:
    rules.check_new_code(data)
    code_id = uuid7()
    text = rules.normal_code(data.code)
    async with conn.transaction():
        await store.create_code(conn, code_id, venue_id, text, data, now, by.id)
        await record_action(
            conn, by.id, "discount_code.created", "discount_code", code_id, {"code": text}
        )
    return await store.get_code(conn, venue_id, code_id, now)


async def list_codes(conn: asyncpg.Connection, venue_id: UUID, now: datetime) -> list[DiscountCode]:
    await store.venue_prices(conn, venue_id)  # 404 for an unknown venue
    return await store.list_codes(conn, venue_id, now)


async def set_code_active(
    conn: asyncpg.Connection,
    by: StaffMember,
    venue_id: UUID,
    code_id: UUID,
    active: bool,
    now: datetime,
) -> DiscountCode:
    """Deactivate (or reactivate) a code: a hold or booking that already took a use keeps it."""
    async with conn.transaction():
        if await store.set_code_active(conn, venue_id, code_id, active):
            action = "discount_code.reactivated" if active else "discount_code.deactivated"
            await record_action(conn, by.id, action, "discount_code", code_id)
    return await store.get_code(conn, venue_id, code_id, now)


async def create_membership(
    conn: asyncpg.Connection, by: StaffMember, venue_id: UUID, data: MembershipIn, now: datetime
) -> Membership:
    rules.check_membership_dates(data.valid_from, data.expires_on)
    async with conn.transaction():
        membership = await store.create_membership(conn, uuid7(), venue_id, data, now)
        await record_action(
            conn,
            by.id,
            "membership.created",
            "membership",
            membership.id,
            {"number": membership.number},
        )
    return membership


async def list_memberships(
    conn: asyncpg.Connection, venue_id: UUID, after: str | None, limit: int
) -> list[Membership]:
    await store.venue_prices(conn, venue_id)  # 404 for an unknown venue
    return await store.list_memberships(conn, venue_id, after, limit)


async def set_membership_active(
    conn: asyncpg.Connection, by: StaffMember, venue_id: UUID, membership_id: UUID, active: bool
) -> Membership:
    async with conn.transaction():
        membership, changed = await store.set_membership_active(
            conn, venue_id, membership_id, active
        )
        if changed:
            action = "membership.reactivated" if active else "membership.deactivated"
            await record_action(conn, by.id, action, "membership", membership_id)
    return membership


async def venue_prices(conn: asyncpg.Connection, venue_id: UUID) -> VenuePrices:
    return await store.venue_prices(conn, venue_id)


async def change_venue_prices(
    conn: asyncpg.Connection, by: StaffMember, venue_id: UUID, data: VenuePricesIn
) -> VenuePrices:
    async with conn.transaction():
        before = await store.venue_prices(conn, venue_id)
        after = await store.update_venue_prices(conn, venue_id, data)
        changed = {
            name: getattr(after, name)
            for name in ("booking_fee", "tax_rate_bp", "member_tickets_per_booking")
            if getattr(after, name) != getattr(before, name)
        }
        if changed:
            await record_action(conn, by.id, "venue.prices_changed", "venue", venue_id, changed)
    return after
