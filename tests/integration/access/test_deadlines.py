"""Deadlines, recorded once each: a device never collected (no-show), a device not returned in
time (overdue), a waitlist entry whose screening started (lapsed). The steps take `now`, so the
clock is moved by passing it; the cron job itself runs on the real clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.access import CheckOutIn, DeviceIn, DeviceReservationIn, ReturnIn
from schemas.staff import StaffMember
from services.access import service
from services.settings import Settings
from tests.integration.access.helpers import annex, events, keep_units, schedule
from workers.devices import device_deadlines

ANA = DeviceReservationIn("assistive_listening", "Ana", "ana@example.org")
ION = DeviceReservationIn("assistive_listening", "Ion")


async def _reserve(conn, screening, data, settings: Settings, at: datetime):
    made, _ = await service.reserve(
        conn, screening, data, data.patron_name, service.TieProof(), settings.access, at
    )
    return made


async def test_no_shows_and_lapses_are_recorded_once(db, day, settings):
    await keep_units(db, "ALS-201")
    screening = await schedule(db, "cinema-2", day)
    async with db.acquire() as conn:
        early = day - timedelta(days=1)
        ana = await _reserve(conn, screening, ANA, settings, early)
        ion = await _reserve(conn, screening, ION, settings, early)
        assert (ana.status, ion.status) == ("reserved", "waitlisted")
        assert await service.run_deadlines(conn, settings.access, day) == {
            "no_show": 0,
            "overdue": 0,
            "lapsed": 1,  # the screening started: no unit will come for Ion now
        }
        late = day + timedelta(minutes=settings.access.no_show_minutes)
        assert (await service.run_deadlines(conn, settings.access, late))["no_show"] == 1
        assert (await service.run_deadlines(conn, settings.access, late))["no_show"] == 0
    [no_show] = await events(db, "device_reservation.no_show")
    assert no_show["asset_tag"] == "ALS-201"
    assert no_show["patron_email"] == "ana@example.org"
    [lapsed] = await events(db, "device_reservation.cancelled")
    assert (lapsed["by"], lapsed["was"]) == ("system", "waitlisted")
    rows = await db.fetch("SELECT status FROM device_reservation ORDER BY queue_number")
    assert [row["status"] for row in rows] == ["no_show", "lapsed"]


async def test_an_overdue_return_is_flagged_once_and_the_return_marked_late(db, settings):
    async with db.acquire() as conn:
        venue, room, _ = await annex(conn)
        now = datetime.now(UTC)
        await service.add_device(conn, None, venue, DeviceIn("OD-1", "neckloop", room), now)
        starts = now.replace(microsecond=0) + timedelta(minutes=5)
        screening = await schedule(db, "annex-1", starts, ["assistive_listening"])
        ana = await _reserve(conn, screening, DeviceReservationIn("neckloop", "Ana"), settings, now)
        desk = await conn.fetchrow("SELECT id, email, name, role FROM staff_user LIMIT 1")
        staff = StaffMember(**dict(desk)) if desk else None
        assert staff is not None
        await service.check_out(conn, staff, ana.id, CheckOutIn("OD-1"), settings.access, now)
        ends_at = await conn.fetchval("SELECT ends_at FROM screening WHERE id = $1", screening)
        due = ends_at + timedelta(minutes=settings.access.overdue_minutes)
        assert (await service.run_deadlines(conn, settings.access, due))["overdue"] == 1
        assert (await service.run_deadlines(conn, settings.access, due))["overdue"] == 0
        await service.return_unit(
            conn, staff, venue, "OD-1", ReturnIn(), settings.access, due + timedelta(hours=1)
        )
    [overdue] = await events(db, "device_reservation.overdue")
    assert overdue["asset_tag"] == "OD-1"
    assert datetime.fromisoformat(overdue["due_at"]) == due
    [returned] = await events(db, "device_reservation.returned")
    assert returned["late"] is True


async def test_the_cron_job_runs_on_the_real_clock(db, settings):
    async with db.acquire() as conn:
        venue, room, _ = await annex(conn)
        now = datetime.now(UTC)
        await service.add_device(conn, None, venue, DeviceIn("NS-1", "neckloop", room), now)
    started = now - timedelta(minutes=settings.access.no_show_minutes + 5)
    screening = await schedule(db, "annex-1", started, ["assistive_listening"])
    async with db.acquire() as conn:
        await _reserve(
            conn,
            screening,
            DeviceReservationIn("neckloop", "Ana"),
            settings,
            started - timedelta(hours=1),
        )
    counts = await device_deadlines({"pool": db, "settings": settings})
    assert counts["no_show"] == 1
    assert (await device_deadlines({"pool": db, "settings": settings}))["no_show"] == 0
