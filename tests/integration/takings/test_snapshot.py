"""A report is read from one snapshot: while a till records payments and refunds as fast as it
can on another connection, every screening report read at the same time from a real API server
(`usher serve`, another process) agrees with itself: its cash equals its reconciliation's net
cash, its sales its reconciliation's gross, which three queries in READ COMMITTED would not
(without the REPEATABLE READ snapshot this test fails)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import httpx

from tests.integration.box_office.conftest import api
from tests.integration.takings.books import Line, book, pay, refund

__all__ = ["api"]  # the real server fixture


async def test_a_report_agrees_with_itself_while_money_moves(
    demo: asyncpg.Pool, api: str, staff: dict[str, str]
) -> None:
    async with demo.acquire() as conn:
        show = await conn.fetchrow(
            "SELECT s.id, s.venue_id, array(SELECT id FROM seat st"
            " WHERE st.auditorium_id = s.auditorium_id ORDER BY id LIMIT 8) AS seats"
            " FROM screening s ORDER BY s.starts_at LIMIT 1"
        )
        staff_id = await conn.fetchval("SELECT id FROM staff_user LIMIT 1")
        now = datetime.now(UTC)
        booked = [
            await book(conn, show["id"], show["venue_id"], [Line(seat, "adult", 900, 0, 0, 0)], now)
            for seat in show["seats"]
        ]
        for target in booked:
            await pay(conn, target, "cash", 900, now)
    stop = asyncio.Event()
    moves = 0

    async def till() -> None:
        nonlocal moves
        async with demo.acquire() as conn:
            while not stop.is_set():
                target = booked[moves % len(booked)]
                if moves % 3 == 2:
                    await refund(conn, target, "cash", 1, datetime.now(UTC), staff_id)
                else:
                    await pay(conn, target, "card", 7, datetime.now(UTC))
                moves += 1

    running = asyncio.create_task(till())
    try:
        async with httpx.AsyncClient(base_url=api, headers=staff, timeout=30) as client:
            path = f"/v1/staff/takings/screenings/{show['id']}"
            reports = [await client.get(path) for _ in range(150)]
    finally:
        stop.set()
        await running
    for answer in reports:
        assert answer.status_code == 200, answer.text
        report = answer.json()
        cash = sum(total["net"] for total in report["cash_totals"])
        (reconciled,) = report["reconciliation"]
        assert cash == reconciled["net_cash"], (moves, report)
        assert report["sales_totals"][0]["gross"] == reconciled["gross"]
    assert moves >= 100, moves  # the till kept moving money while the reports were read
