"""The desk: the inventory, a screening's pick-up list, handing a unit over, taking it back, and
marking units charged, charging, broken or retired. Every step is audited and evented."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.access import (
    CheckOutIn,
    Device,
    DeviceIn,
    DevicePatch,
    Inventory,
    PickUp,
    PickUpList,
    ReturnIn,
)
from schemas.events import DeviceAdded, DeviceChanged, DeviceCheckedOut, DeviceReturned
from schemas.staff import StaffMember
from services.access import rules, store
from services.access.service._common import about, place, rehome
from services.audit import record_action
from services.errors import Conflict, InvalidInput, NotFound
from services.ids import uuid7
from services.outbox import record_event, record_events
from services.settings import AccessSettings

ON_THE_LIST = ("waitlisted", "reserved", "checked_out", "returned", "no_show")


async def inventory(conn: asyncpg.Connection, venue_id: UUID) -> Inventory:
    auditoriums = await store.venue_auditoriums(conn, venue_id)
    return Inventory(
        venue_id=venue_id,
        devices=await store.list_devices(conn, venue_id),
        requirements=rules.requirements(auditoriums, await store.in_service(conn, venue_id)),
    )


async def add_device(
    conn: asyncpg.Connection, by: StaffMember | None, venue_id: UUID, data: DeviceIn, now: datetime
) -> Device:
    await store.venue_auditoriums(conn, venue_id)  # 404 for an unknown venue
    async with conn.transaction():
        await store.lock_kind(conn, venue_id, data.kind)  # a unit comes free for the waitlist
        device = await store.insert_device(
            conn, uuid7(), venue_id, data.asset_tag, data.kind, data.auditorium_id, data.note, now
        )
        await record_event(
            conn,
            DeviceAdded(
                id=uuid7(),
                occurred_at=now,
                venue_id=venue_id,
                device_id=device.id,
                asset_tag=device.asset_tag,
                kind=device.kind,
                auditorium_id=device.auditorium_id,
            ),
        )
        await record_action(
            conn, by.id if by else None, "device.added", "device", device.id,
            {"asset_tag": device.asset_tag, "kind": device.kind},
        )  # fmt: skip
    return device


async def change_device(
    conn: asyncpg.Connection,
    by: StaffMember,
    venue_id: UUID,
    asset_tag: str,
    patch: DevicePatch,
    now: datetime,
) -> Device:
    """Mark, tune or note a unit; one taken out of service hands its coming loans on."""
    changed = [f for f in patch.__struct_fields__ if getattr(patch, f) is not msgspec.UNSET]
    if not changed:
        raise InvalidInput("nothing to change", field="state", reason="give a field to change")
    first = await store.get_device(conn, venue_id, asset_tag)
    async with conn.transaction():
        await store.lock_kind(conn, venue_id, first.kind)
        unit = await store.get_device(conn, venue_id, asset_tag, lock=True)
        state = unit.state if patch.state is msgspec.UNSET else patch.state
        rules.check_state_change(unit.state, state, asset_tag)
        device = await store.update_device(
            conn,
            unit.id,
            now,
            state=state,
            auditorium_id=patch.auditorium_id,
            note=None if patch.note is msgspec.UNSET else patch.note,
        )
        moved: list[store.ReservationRow] = []
        if unit.state == "charging" and state == "available":
            await store.end_turnarounds(conn, unit.id, now)  # charged early: free from now
        if rules.withdraws(unit.state, state):
            moved, waitlisted = await rehome(conn, unit.id, now)
            await record_events(conn, list(waitlisted))
        await record_event(
            conn,
            DeviceChanged(
                id=uuid7(),
                occurred_at=now,
                venue_id=venue_id,
                device_id=device.id,
                asset_tag=device.asset_tag,
                kind=device.kind,
                previous_state=unit.state,
                state=device.state,
                auditorium_id=device.auditorium_id,
                changed=changed,
            ),
        )
        await record_action(
            conn, by.id, "device.changed", "device", device.id,
            {"asset_tag": asset_tag, "changed": changed, "state": device.state,
             "moved": [str(row.id) for row in moved]},
        )  # fmt: skip
    return device


async def pickups(
    conn: asyncpg.Connection, screening_id: UUID, settings: AccessSettings, now: datetime
) -> PickUpList:
    """Who needs what for a screening, in queue order per kind: the unit set aside and whether
    it can be handed over as it is, the waitlist in order, and what is out or overdue."""
    facts = await store.screening_facts(conn, screening_id)
    rows = await store.of_screening(conn, screening_id, statuses=ON_THE_LIST)
    devices = {d.id: d for d in await store.list_devices(conn, facts.venue_id)}
    seats = await store.seats_of(conn, screening_id)
    due = rules.overdue_at(facts.ends_at, settings.overdue_minutes)
    places: dict[str, int] = {}
    items = []
    for row in rows:
        device = devices.get(row.device_id) if row.device_id else None
        problem = None
        position = None
        if row.status == "reserved" and device is not None:
            problem = rules.unit_problem(device.state, device.auditorium_id, facts.auditorium_id)
        if row.status == "waitlisted":
            position = places[row.kind] = places.get(row.kind, 0) + 1
        items.append(
            PickUp(
                reservation_id=row.id,
                number=row.number,
                kind=row.kind,  # type: ignore[arg-type]
                status=row.status,  # type: ignore[arg-type]
                patron_name=row.patron_name,
                patron_email=row.patron_email,
                requested_at=row.requested_at,
                ready=row.status == "reserved" and problem is None,
                seats=seats.get(row.id, []),
                booking_reference=row.booking_reference,
                position=position,
                device=device if row.status != "waitlisted" else None,
                problem=problem,
                checked_out_at=row.checked_out_at,
                overdue=row.status == "checked_out" and now >= due,
            )
        )
    return PickUpList(
        screening_id=screening_id,
        auditorium_id=facts.auditorium_id,
        starts_at=facts.starts_at,
        items=items,
    )


async def pickup_by_number(
    conn: asyncpg.Connection, number: str, settings: AccessSettings, now: datetime
) -> PickUp:
    """The pick-up line of the reservation with this number (as the patron reads it out)."""
    row = await store.by_number(conn, number)
    if row is None:
        raise NotFound(f"no device reservation numbered {number}")
    return await pickup(conn, row.id, settings, now)


async def pickup(
    conn: asyncpg.Connection, reservation_id: UUID, settings: AccessSettings, now: datetime
) -> PickUp:
    row = await store.get_reservation(conn, reservation_id)
    listed = await pickups(conn, row.screening_id, settings, now)
    for item in listed.items:
        if item.reservation_id == reservation_id:
            return item
    return PickUp(
        reservation_id=row.id,
        number=row.number,
        kind=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        patron_name=row.patron_name,
        patron_email=row.patron_email,
        requested_at=row.requested_at,
        ready=False,
        seats=[],
        booking_reference=row.booking_reference,
    )


async def check_out(
    conn: asyncpg.Connection,
    by: StaffMember,
    reservation_id: UUID,
    data: CheckOutIn,
    settings: AccessSettings,
    now: datetime,
) -> PickUp:
    """Hand a unit over for a reservation. Any unit of the kind that is charged and tuned right
    will do: the reservation moves to it, and a patron who had it set aside for an overlapping
    screening gets another free unit (the one this reservation leaves, if need be); if none is
    free for them, the check-out is refused and nothing changes."""
    first = await store.get_reservation(conn, reservation_id)
    facts = await store.screening_facts(conn, first.screening_id)
    async with conn.transaction():
        await store.lock_kind(conn, first.venue_id, first.kind)
        row = await store.get_reservation(conn, reservation_id, lock=True)
        if row.status == "checked_out" and row.asset_tag == data.asset_tag:
            return await pickup(conn, reservation_id, settings, now)  # a retried check-out
        unit = await store.get_device(conn, row.venue_id, data.asset_tag, lock=True)
        rules.check_check_out(
            row.status, row.kind, unit.kind, unit.state, unit.auditorium_id,
            facts.auditorium_id, row.span, facts.ends_at, now, data.asset_tag,
        )  # fmt: skip
        span = row.span
        others = await store.holding_unit(
            conn, unit.id, statuses=rules.HOLDS_A_UNIT, overlapping=span, besides=row.id
        )
        moved = []
        if others:
            await store.demote(conn, row.id)  # its unit may go to whoever must leave this one
            for other in others:
                if other.status != "reserved":
                    raise Conflict(
                        f"{data.asset_tag} is lent to another patron", reason="unit lent"
                    )
                where = await store.screening_facts(conn, other.screening_id)
                if await place(conn, other, where.auditorium_id, now, besides=(unit.id,)) is None:
                    raise Conflict(
                        f"{data.asset_tag} is set aside for another patron of an overlapping "
                        f"screening and no other unit is free for them: hand over "
                        f"{row.asset_tag or 'another unit'}",
                        reason="unit set aside for another patron",
                        field="asset_tag",
                    )
                moved.append(str(other.id))
        if not await store.hold_unit(conn, row.id, unit.id, span, now, status="checked_out"):
            raise Conflict(f"{data.asset_tag} is lent for an overlapping time", reason="unit lent")
        await store.update_device(conn, unit.id, now, state="on_loan")
        fresh = await store.get_reservation(conn, row.id)
        await record_event(
            conn,
            DeviceCheckedOut(
                **about(fresh, now), device_id=unit.id, asset_tag=unit.asset_tag, staff_id=by.id
            ),
        )
        await record_action(
            conn, by.id, "device.checked_out", "device_reservation", row.id,
            {"asset_tag": unit.asset_tag, "set_aside": row.asset_tag, "moved": moved},
        )  # fmt: skip
        return await pickup(conn, reservation_id, settings, now)


async def return_unit(
    conn: asyncpg.Connection,
    by: StaffMember,
    venue_id: UUID,
    asset_tag: str,
    data: ReturnIn,
    settings: AccessSettings,
    now: datetime,
) -> Device:
    """Take a unit back: its loan ends (early: the unit is free again after the turnaround), and
    the unit goes to charging (or as said); a broken or lost one hands its coming loans on."""
    first = await store.get_device(conn, venue_id, asset_tag)
    async with conn.transaction():
        await store.lock_kind(conn, venue_id, first.kind)
        unit = await store.get_device(conn, venue_id, asset_tag, lock=True)
        if unit.state != "on_loan":
            raise Conflict(f"{asset_tag} is not on loan", reason="not on loan")
        loans = await store.holding_unit(conn, unit.id, statuses=("checked_out",))
        device = await store.update_device(
            conn, unit.id, now, state=data.state, note=data.note or None
        )
        if rules.withdraws(unit.state, data.state):
            _, waitlisted = await rehome(conn, unit.id, now)
            await record_events(conn, list(waitlisted))
        for loan in loans:
            span = rules.returned_span(
                loan.span, now, settings.turnaround_minutes, charged=data.state == "available"
            )
            await store.mark_returned(conn, loan.id, span, now)
            facts = await store.screening_facts(conn, loan.screening_id)
            late = loan.overdue_at is not None or now >= rules.overdue_at(
                facts.ends_at, settings.overdue_minutes
            )
            await record_event(
                conn,
                DeviceReturned(
                    **about(loan, now),
                    device_id=unit.id,
                    asset_tag=asset_tag,
                    state=data.state,
                    late=late,
                    staff_id=by.id,
                ),
            )
        await record_action(
            conn, by.id, "device.returned", "device", unit.id,
            {"asset_tag": asset_tag, "state": data.state,
             "reservations": [str(loan.id) for loan in loans]},
        )  # fmt: skip
    return device
