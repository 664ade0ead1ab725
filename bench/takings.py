"""How long the takings reports take on 100,000 bookings, beside a plain count(*) over the
same rows (the baseline) in the same run, on the same database.

    python bench/takings.py [--bookings 100000] [--repeat 7]

It creates a database of its own next to BENCH_DATABASE_URL's (default: the local server's
`postgres` database), migrates it, loads the demo programme, adds 28 screenings of one film in
one film week (Friday 2027-01-01 to Thursday 2027-01-07, four a day) and writes the bookings
with SQL generate_series: 1 to 4 seat lines each, ~90% paid (cash, card or online), ~5%
cancelled, ~5% partly refunded, made over the week. Then it times, median of --repeat rounds:
the film-week report (the distributor's return, through the service layer, JSON shapes and
its CSV; and its two queries alone), the day report for one day of that week, each round
after its baseline (a count(*) joining the same bookings and seat lines). It drops the
database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import msgspec

from services.db import connect
from services.db.migrate import apply_migrations
from services.demo import load_demo_data
from services.takings import rules, service, sheets, store

WEEK = date(2027, 1, 1)  # a Friday
DAY = date(2027, 1, 3)

SCREENINGS = """
INSERT INTO screening (id, film_id, auditorium_id, venue_id, starts_at, ends_at, occupied_until,
                       currency, status)
SELECT gen_random_uuid(), f.id, a.id, a.venue_id, t, t + interval '2 hours',
       t + interval '2 hours 15 minutes', 'USD', 'on_sale'
FROM film f, auditorium a, venue v,
     generate_series(0, 6) AS d, unnest(ARRAY[12, 15, 18, 21]) AS h,
     LATERAL (SELECT (($1::date + d) + make_interval(hours => h)) AT TIME ZONE v.time_zone) AS s(t)
WHERE f.slug = 'ghost-tropic' AND a.slug = 'cinema-1' AND v.id = a.venue_id
"""

# Each booking's figures follow from h = hashtext(its reference): 1 + (h & 3) seat lines (so
# LINES below repeats the arithmetic), paid in full unless |h| % 10 = 9, cancelled when
# |h| % 20 = 3, half refunded when |h| % 20 is 3 or 4.
BOOKINGS = """
WITH shows AS (
    SELECT s.id, s.venue_id, s.starts_at, row_number() OVER (ORDER BY s.starts_at) - 1 AS n
    FROM screening s JOIN film f ON f.id = s.film_id
    WHERE f.slug = 'ghost-tropic' AND s.starts_at >= $2 AND s.starts_at < $3),
made AS (
    SELECT g, 'B' || g AS reference, hashtext('B' || g) AS h, gen_random_uuid() AS hold_id,
           gen_random_uuid() AS booking_id, sh.id AS screening_id, sh.venue_id,
           sh.starts_at - make_interval(mins => (g * 7919) % 10080) AS created_at
    FROM generate_series(1, $1) AS g JOIN shows sh ON sh.n = g % (SELECT count(*) FROM shows)),
priced AS (
    SELECT m.*, t.total,
           CASE WHEN abs(h) % 10 <> 9 THEN t.total ELSE 0 END AS paid,
           CASE WHEN abs(h) % 20 = 3 THEN 'cancelled' ELSE 'confirmed' END AS status
    FROM made m, LATERAL (
        SELECT sum(1200 - 200 * ((k + h) & 1) - CASE WHEN h % 10 = 0 THEN 300 ELSE 0 END + 100)
               AS total
        FROM generate_series(0, h & 3) AS k) t),
holds AS (
    INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, status, seat_ids,
                      created_at, expires_at, latest_expiry, ended_at)
    SELECT hold_id, screening_id, venue_id, sha256(hold_id::text::bytea), 'bench', 'confirmed',
           '{}', created_at - interval '1 minute', created_at + interval '9 minutes',
           created_at + interval '19 minutes', created_at
    FROM made)
INSERT INTO booking (id, reference, screening_id, venue_id, hold_id, patron_name, patron_email,
                     secret_hash, idempotency_key, request_hash, currency, total, created_at,
                     status, cancelled_at, cancelled_by, refund_due, paid, refunded)
SELECT booking_id, reference, screening_id, venue_id, hold_id, 'Patron ' || g,
       'p' || g || '@example.org', '\\x00', g::text, '\\x00', 'USD', total, created_at, status,
       CASE WHEN status = 'cancelled' THEN created_at + interval '1 hour' END,
       CASE WHEN status = 'cancelled' THEN 'patron' END, status = 'cancelled', paid,
       CASE WHEN abs(h) % 20 IN (3, 4) THEN paid / 2 ELSE 0 END
FROM priced
"""

LINES = """
WITH seats AS (SELECT auditorium_id, array_agg(id ORDER BY id) AS ids FROM seat GROUP BY 1)
INSERT INTO booking_seat (booking_id, seat_id, ticket_type, list_price, discount, fee, tax, amount)
SELECT b.id, seats.ids[k + 1], (ARRAY['adult', 'child', 'senior', 'member'])[1 + ((k + h) & 3)],
       p.list, p.discount, 100, round((p.list - p.discount + 100) * 600 / 10600.0),
       p.list - p.discount + 100
FROM booking b
JOIN screening s ON s.id = b.screening_id
JOIN seats ON seats.auditorium_id = s.auditorium_id
CROSS JOIN LATERAL (SELECT hashtext(b.reference) AS h) hh
CROSS JOIN LATERAL generate_series(0, h & 3) AS k
CROSS JOIN LATERAL (SELECT 1200 - 200 * ((k + h) & 1) AS list,
                           CASE WHEN h % 10 = 0 THEN 300 ELSE 0 END AS discount) p
"""

MONEY = """
INSERT INTO payment (id, booking_id, venue_id, method, provider, provider_payment_id, amount,
                     currency, recorded_at)
SELECT gen_random_uuid(), b.id, b.venue_id, m.method,
       CASE WHEN m.method = 'provider' THEN 'bench' END,
       CASE WHEN m.method = 'provider' THEN b.reference END, b.paid, 'USD',
       b.created_at + interval '2 minutes'
FROM booking b,
     LATERAL (SELECT (ARRAY['cash', 'card', 'provider'])[1 + abs(hashtext(b.reference)) % 3]
              AS method) m
WHERE b.paid > 0;
INSERT INTO refund (id, booking_id, venue_id, amount, currency, reason, method, recorded_at,
                    recorded_by)
SELECT gen_random_uuid(), b.id, b.venue_id, b.refunded, 'USD', 'bench', 'card',
       b.created_at + interval '2 hours', (SELECT id FROM staff_user LIMIT 1)
FROM booking b WHERE b.refunded > 0;
"""

BASELINE_WEEK = """
SELECT count(*) FROM booking b JOIN booking_seat bs ON bs.booking_id = b.id
WHERE b.screening_id = ANY($1::uuid[])
"""
BASELINE_DAY = """
SELECT count(*) FROM booking b JOIN booking_seat bs ON bs.booking_id = b.id
WHERE b.venue_id = $1 AND b.created_at >= $2 AND b.created_at < $3
"""


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _ms(step: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await step()
    return (time.perf_counter() - started) * 1000


async def _against(
    repeat: int, step: Callable[[], Awaitable[object]], baseline: Callable[[], Awaitable[object]]
) -> tuple[float, float, float]:
    """(median ms of step, median ms of baseline, median of the per-round ratios): each round
    runs the baseline then the step, so a busy moment of a shared machine weighs on both."""
    await step()  # warm: plans cached, pages in memory
    await baseline()
    pairs = [(await _ms(step), await _ms(baseline)) for _ in range(repeat)]
    return (
        statistics.median(p[0] for p in pairs),
        statistics.median(p[1] for p in pairs),
        statistics.median(p[0] / p[1] for p in pairs),
    )


async def bench(count: int, repeat: int, keep: bool) -> None:
    admin_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"usher_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await connect(_database(admin_url, name))
        try:
            await apply_migrations(conn)
            await load_demo_data(conn, date.today())  # its screenings: not that week
            zone = await conn.fetchval("SELECT time_zone FROM venue WHERE slug = 'riverside'")
            venue, film = await conn.fetchrow(
                "SELECT v.id, f.id FROM venue v, film f"
                " WHERE v.slug = 'riverside' AND f.slug = 'ghost-tropic'"
            )
            started = time.perf_counter()
            await conn.execute(SCREENINGS, WEEK)

            start = rules.local_midnight(WEEK, zone)
            end = rules.day_bounds(rules.film_week(WEEK)[1], zone)[1]
            await conn.execute(BOOKINGS, count, start, end)
            await conn.execute(LINES)
            await conn.execute(MONEY)
            await conn.execute("VACUUM ANALYZE")
            made = time.perf_counter() - started
            checked = await conn.fetchval(
                "SELECT count(*) FROM booking b WHERE total <> (SELECT sum(amount)"
                " FROM booking_seat WHERE booking_id = b.id)"
            )
            assert checked == 0, f"{checked} bookings whose total is not their lines' sum"
            totals = await conn.fetchrow(
                "SELECT count(*) AS bookings, (SELECT count(*) FROM booking_seat) AS seats,"
                " (SELECT count(*) FROM payment) AS payments,"
                " (SELECT count(*) FROM refund) AS refunds FROM booking"
            )
            print(
                f"{totals['bookings']} bookings, {totals['seats']} seat lines, "
                f"{totals['payments']} payments, {totals['refunds']} refunds "
                f"written in {made:.1f} s"
            )
            now = datetime.now(UTC)
            shows = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM screening WHERE film_id = $1 AND starts_at >= $2"
                    " AND starts_at < $3",
                    film,
                    start,
                    end,
                )
            ]
            report = await service.film_week(conn, venue, film, WEEK, now)
            admissions = sum(t.admissions for t in report.totals)
            print(f"film week: {len(report.screenings)} screenings, {admissions} admissions")
            day_start, day_end = rules.day_bounds(DAY, zone)

            async def week_json() -> None:
                msgspec.json.encode(await service.film_week(conn, venue, film, WEEK, now))

            async def week_csv() -> None:
                sheets.film_week_csv(await service.film_week(conn, venue, film, WEEK, now))

            async def day_json() -> None:
                msgspec.json.encode(await service.day(conn, venue, DAY, now))

            async def week_count() -> None:
                await conn.fetchval(BASELINE_WEEK, shows)

            async def day_count() -> None:
                await conn.fetchval(BASELINE_DAY, venue, day_start, day_end)

            async def week_lines() -> None:
                await store.seat_lines(conn, "screenings", shows)

            async def week_reconciled() -> None:
                await store.reconciliation(conn, "screenings", shows)

            print(f"{'':<44} {'ms':>8} {'baseline':>9}   ratio (median of {repeat} rounds)")
            for label, step, baseline in [
                ("film-week report (JSON)", week_json, week_count),
                ("film-week report (CSV)", week_csv, week_count),
                ("  of which SQL: seat lines by ticket type", week_lines, week_count),
                ("  of which SQL: reconciliation", week_reconciled, week_count),
                ("day report (JSON)", day_json, day_count),
            ]:
                ms, base, ratio = await _against(repeat, step, baseline)
                print(f"{label:<44} {ms:8.1f} {base:9.1f}   {ratio:5.1f}x")
        finally:
            await conn.close()
    finally:
        if keep:
            print(f"kept the database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database (to EXPLAIN)")
    args = parser.parse_args()
    asyncio.run(bench(args.bookings, args.repeat, args.keep))


if __name__ == "__main__":
    main()
