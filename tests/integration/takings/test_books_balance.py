"""The reports' totals are the sums of the bookings: random books (bookings of random seat
lines, payments of every method, partial and over-payments, money in a foreign currency,
refunds, cancellations through the real cancel endpoint, "paid, not seated" bookings), spread
over days around a clock change at the venue, then every report is checked against sums
computed here from what was written: each screening's, each local day's, each film week's,
and the refunds due. Bookings, payments and refunds are written as rows (books.py says why)."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.demo import DEMO_STAFF, TIME_ZONE
from services.takings.rules import film_week
from services.takings.sheets import money
from tests.integration.takings.books import Booked, Line, book, pay, refund, unseat

ZONE = ZoneInfo(TIME_ZONE)
# New York's clocks go forward on 8 March 2026: that local day has 23 hours.
FIRST_DAY = date(2026, 3, 6)
DAYS = 4
TICKET_TYPES = ["adult", "child", "senior", "=HYPERLINK(x)"]


def _at(rng: random.Random) -> datetime:
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    local = datetime.combine(day, time(0), tzinfo=ZONE) + timedelta(minutes=rng.randrange(1440))
    return local.astimezone(UTC)


def _local_day(at: datetime) -> date:
    return at.astimezone(ZONE).date()


async def _random_books(
    rng: random.Random,
    conn: asyncpg.Connection,
    client: AsyncTestClient[Litestar],
    staff: dict[str, str],
    shows: list[asyncpg.Record],
    staff_id: UUID,
) -> list[Booked]:
    free = {show["id"]: list(show["seats"]) for show in shows}
    booked: list[Booked] = []
    for _ in range(70):
        roll = rng.random()
        confirmed = [b for b in booked if b.status == "confirmed"]
        if roll < 0.4 or not booked:
            show = rng.choice(shows)
            count = min(rng.randint(1, 4), len(free[show["id"]]))
            lines = []
            for _ in range(count):
                price = rng.choice([0, 800, 1250, 1500])
                lines.append(
                    Line(
                        seat_id=free[show["id"]].pop(),
                        ticket_type=rng.choice(TICKET_TYPES),
                        list_price=price,
                        discount=rng.choice([0, price // 5, price]),
                        fee=rng.choice([0, 150]) if price else 0,
                        tax_rate_bp=600,
                    )
                )
            booked.append(await book(conn, show["id"], show["venue_id"], lines, _at(rng), "USD"))
        elif roll < 0.7:
            target = rng.choice(booked)
            owed = target.total - target.paid("USD") + target.refunded("USD")
            amount = rng.choice([owed, owed // 2, owed + 100, 500])
            foreign = rng.random() < 0.1
            if amount > 0:
                at = target.created_at + timedelta(hours=rng.randrange(40))
                method = rng.choice(["cash", "card", "provider"])
                await pay(conn, target, method, amount, at, "EUR" if foreign else None)
        elif roll < 0.85:
            currency = rng.choice(["USD", "EUR"])
            refundable = [b for b in booked if b.paid(currency) > b.refunded(currency)]
            if refundable:
                target = rng.choice(refundable)
                most = target.paid(currency) - target.refunded(currency)
                at = max(p[3] for p in target.payments) + timedelta(minutes=rng.randrange(600))
                method = rng.choice(["cash", "card", "provider", "voucher", "other"])
                amount = rng.randint(1, most)
                await refund(conn, target, method, amount, at, staff_id, currency)
        elif roll < 0.95 and confirmed:
            target = rng.choice(confirmed)
            answer = await client.post(
                f"/v1/bookings/{target.reference}/cancel",
                json={"reason": "test", "refund": rng.random() < 0.8},
                headers=staff,
            )
            assert answer.status_code == 200, answer.text
            target.status = "cancelled"
        elif confirmed:
            await unseat(conn, rng.choice(confirmed))
    return booked


def _sales(bookings: list[Booked]) -> dict[tuple[str, str], Counter[str]]:
    """Expected ticket-type lines: (currency, ticket type) -> sums."""
    sums: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for b in bookings:
        if b.status != "confirmed":
            continue
        for line in b.lines:
            sums[b.currency, line.ticket_type].update(
                admissions=1,
                list_price=line.list_price,
                discount=line.discount,
                fee=line.fee,
                gross=line.amount,
                tax=line.tax,
                net_of_tax=line.amount - line.tax,
            )
    return sums


def _reported_sales(lines: list[dict[str, Any]]) -> dict[tuple[str, str], Counter[str]]:
    keys = ["admissions", "list_price", "discount", "fee", "gross", "tax", "net_of_tax"]
    return {
        (line["currency"], line["ticket_type"]): Counter({k: line[k] for k in keys if line[k]})
        for line in lines
    }


def _cash(moves: list[tuple[str, int, str, datetime]]) -> Counter[tuple[str, str]]:
    sums: Counter[tuple[str, str]] = Counter()
    for method, amount, currency, _ in moves:
        sums[method, currency] += amount
    return sums


def _reported_cash(lines: list[dict[str, Any]]) -> tuple[Counter[Any], Counter[Any]]:
    paid = Counter({(x["method"], x["currency"]): x["paid"] for x in lines if x["paid"]})
    refunded = Counter(
        {(x["method"], x["currency"]): x["refunded"] for x in lines if x["refunded"]}
    )
    for x in lines:
        assert x["net"] == x["paid"] - x["refunded"]
    return paid, refunded


def _reconciliation(bookings: list[Booked]) -> dict[str, Counter[str]]:
    """Per booking and currency: a confirmed booking's own-currency money pays its seats;
    all other money is refund_due (the definition in docs/money.md)."""
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    for b in bookings:
        currencies = {b.currency} | {p[2] for p in b.payments} | {r[2] for r in b.refunds}
        for currency in currencies:
            cash = b.paid(currency) - b.refunded(currency)
            row = sums[currency]
            row["net_cash"] += cash
            if b.status == "confirmed" and currency == b.currency:
                row["gross"] += b.total
                row["unpaid"] += max(b.total - cash, 0)
                row["overpaid"] += max(cash - b.total, 0)
            else:
                row["refund_due"] += cash
    return sums


def _check_reconciliation(reported: list[dict[str, Any]], bookings: list[Booked]) -> None:
    expected = _reconciliation(bookings)
    got = {r.pop("currency"): Counter({k: v for k, v in r.items() if v}) for r in reported}
    assert got == {c: +sums for c, sums in expected.items()}
    for r in got.values():
        left = r["gross"] - r["unpaid"] + r["overpaid"] + r["refund_due"]
        assert left == r["net_cash"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_report_sums_the_bookings(
    seed: int,
    demo: asyncpg.Pool,
    client: AsyncTestClient[Litestar],
    staff: dict[str, str],
) -> None:
    rng = random.Random(seed)
    async with demo.acquire() as conn:
        await conn.execute("UPDATE venue SET tax_rate_bp = 600")
        shows = await conn.fetch(
            """
            SELECT s.id, s.venue_id, s.film_id, s.starts_at,
                   array(SELECT st.id FROM seat st WHERE st.auditorium_id = s.auditorium_id
                         ORDER BY st.id) AS seats
            FROM screening s ORDER BY s.starts_at LIMIT 5
            """
        )
        assert len({show["film_id"] for show in shows}) >= 2
        staff_id = await conn.fetchval("SELECT id FROM staff_user WHERE email = $1", DEMO_STAFF[0])
        bookings = await _random_books(rng, conn, client, staff, list(shows), staff_id)
    statuses = Counter(b.status for b in bookings)
    assert statuses["cancelled"], statuses
    assert statuses["confirmed"], statuses
    venue = shows[0]["venue_id"]

    # Each screening: its seat lines, all money on its bookings, and the reconciliation.
    for show in shows:
        mine = [b for b in bookings if b.screening_id == show["id"]]
        answer = await client.get(f"/v1/staff/takings/screenings/{show['id']}", headers=staff)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert _reported_sales(report["ticket_types"]) == _sales(mine)
        paid, refunded = _reported_cash(report["cash"])
        assert paid == _cash([p for b in mine for p in b.payments])
        assert refunded == _cash([r for b in mine for r in b.refunds])
        _check_reconciliation(report["reconciliation"], mine)

    # Each local day: the money recorded in it, the sales of the bookings made in it.
    all_paid: Counter[Any] = Counter()
    for n in range(-1, DAYS + 3):  # payments come up to 40 hours, refunds 10 more, later
        day = FIRST_DAY + timedelta(days=n)
        answer = await client.get(
            "/v1/staff/takings/day", params={"venue": str(venue), "date": str(day)}, headers=staff
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        made = [b for b in bookings if _local_day(b.created_at) == day]
        assert _reported_sales(report["ticket_types"]) == _sales(made)
        paid, refunded = _reported_cash(report["cash"])
        moves = [p for b in bookings for p in b.payments if _local_day(p[3]) == day]
        assert paid == _cash(moves)
        assert refunded == _cash(
            [r for b in bookings for r in b.refunds if _local_day(r[3]) == day]
        )
        assert sum(h["net"] for h in report["by_hour"]) == sum(
            t["net"] for t in report["cash_totals"]
        )
        _check_reconciliation(report["reconciliation"], made)
        all_paid += paid
        hours = datetime.fromisoformat(report["ends_at"]) - datetime.fromisoformat(
            report["starts_at"]
        )
        assert hours == timedelta(hours=23 if day == date(2026, 3, 8) else 24)
        # The CSV says the same.
        answer = await client.get(
            "/v1/staff/takings/day",
            params={"venue": str(venue), "date": str(day), "format": "csv"},
            headers=staff,
        )
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        for total in report["cash_totals"]:
            (row,) = [
                r
                for r in rows
                if r["section"] == "cash_total" and r["currency"] == total["currency"]
            ]
            assert row["net"] == money(total["net"], total["currency"])
        assert not any(cell.startswith("=") for row in rows for cell in row.values())
    assert all_paid == _cash([p for b in bookings for p in b.payments])

    # Each film's week at the venue.
    for film in {show["film_id"] for show in shows}:
        week = _local_day(min(s["starts_at"] for s in shows if s["film_id"] == film))
        start, end = film_week(week)
        in_week = {
            s["id"]
            for s in shows
            if s["film_id"] == film and start <= _local_day(s["starts_at"]) <= end
        }
        answer = await client.get(
            "/v1/staff/takings/film-week",
            params={"venue": str(venue), "film": str(film), "week": str(week)},
            headers=staff,
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        mine = [b for b in bookings if b.screening_id in in_week]
        assert _reported_sales(report["ticket_types"]) == _sales(mine)
        assert {s["screening_id"] for s in report["screenings"]} >= {str(i) for i in in_week}
        for listed in report["screenings"]:
            shown = [b for b in mine if str(b.screening_id) == listed["screening_id"]]
            assert _reported_sales(listed["ticket_types"]) == _sales(shown)
        _check_reconciliation(report["reconciliation"], mine)

    # The refunds due: every cancelled or unseated booking still holding money.
    answer = await client.get("/v1/staff/refunds-due", headers=staff)
    assert answer.status_code == 200, answer.text
    expected = {
        b.reference: b.paid() - b.refunded()
        for b in bookings
        if b.status != "confirmed" and b.paid() > b.refunded()
    }
    assert {r["reference"]: r["due"] for r in answer.json()} == expected
