"""How a claim's statements are planned: once per connection, on plans that do not depend on the
values (planning them for each call cost more than running them) nor on the size of the tables
when the plan was made (a kept plan once read every client's holds): migrations 031, 032."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from services.box_office import store
from services.db import connect


async def _claim_two(
    conn: asyncpg.Connection, screening: UUID, seats: list[UUID] | None = None
) -> str:
    """A new hold of these two seats, or of the best two (no seats given)."""
    now = datetime.now(UTC)
    claimed = await store.claim(
        conn,
        store.ClaimIn(
            kind="hold",
            screening_id=screening,
            now=now,
            hold_id=uuid4(),
            client_id=f"patron-{secrets.token_hex(4)}",
            seat_ids=seats,
            count=None if seats else 2,
            expires_at=now + timedelta(minutes=10),
            max_live_holds=5,
            max_held_seats=10,
            token_hash=secrets.token_bytes(32),
            latest_expiry=now + timedelta(minutes=30),
            hold_minutes=await conn.fetchval(
                "SELECT hold_minutes FROM venue ORDER BY slug LIMIT 1"
            ),
            event_row=(uuid4(), "hold.seats_held", "hold", str(uuid4()), None, {}),
        ),
    )
    return claimed.outcome


async def test_a_claim_counts_its_own_clients_holds_only(
    environment: dict[str, str], demo: asyncpg.Pool, big: UUID
) -> None:
    """The live-holds cap reads the client's holds by its index whatever the table held when a
    connection first claimed: on a small table every live-hold index costs the same, and the
    plan a connection kept after its fifth claim walked every live hold of every client (0.8 ms a
    claim at 5,000 live holds, for the connection's life). Counted by the heap rows the claim
    fetched from `hold`, in its own transaction."""
    seats = [
        row["seat_id"]
        for row in await demo.fetch(
            "SELECT seat_id FROM seat_free WHERE screening_id = $1 ORDER BY seat_id", big
        )
    ]
    conn = await connect(environment["USHER_DATABASE_URL"])  # no plan cached yet
    try:
        for n in range(8):  # past the fifth: the plans it keeps are made now, on a small table
            assert await _claim_two(conn, big, seats[2 * n : 2 * n + 2]) == "held"
        await conn.execute(
            """
            INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, seat_ids,
                              created_at, expires_at, latest_expiry)
            SELECT gen_random_uuid(), s.id, s.venue_id, sha256(n::text::bytea), 'other-' || n,
                   '{}', now(), now() + interval '10 minutes', now() + interval '30 minutes'
              FROM screening s, generate_series(1, 3000) AS n WHERE s.id = $1
            """,
            big,
        )
        async with conn.transaction():
            assert await _claim_two(conn, big, seats[20:22]) == "held"
            fetched = await conn.fetchval(
                "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)"
                " FROM pg_stat_xact_user_tables WHERE relname = 'hold'"
            )
    finally:
        await conn.close()
    assert fetched < 100, fetched  # not the 3,000 others'


async def test_a_claim_plans_nothing_for_itself(
    environment: dict[str, str], demo: asyncpg.Pool, big: UUID
) -> None:
    """The statements a claim runs over its seats (their free rows deleted; for explicit seats,
    the lookup of their kinds; for best available, the window's seats locked and the chosen
    seats' labels read) and the count of the client's live holds run on the plans the
    connection keeps, not on plans made for the call: making those cost more than running them
    (52, 32 and 46 us against 16, 6 and 6 for the first two and the count, migration 032).
    auto_explain, told to send plans to this client, shows which: a kept plan has the seat or
    the client as a parameter ($n), one made for the call has it written in."""
    seats = [
        row["seat_id"]
        for row in await demo.fetch(
            "SELECT seat_id FROM seat_free WHERE screening_id = $1 ORDER BY seat_id", big
        )
    ]
    conn = await connect(environment["USHER_DATABASE_URL"])
    plans: list[str] = []
    try:
        for n in range(8):  # past the fifth call, when a plan is kept or not
            assert await _claim_two(conn, big, seats[2 * n : 2 * n + 2]) == "held"
            assert await _claim_two(conn, big) == "held"  # best available
        conn.add_log_listener(lambda _, message: plans.append(message.message))
        await conn.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
            await conn.execute(f"SET auto_explain.{setting}")
        assert await _claim_two(conn, big, seats[20:22]) == "held"
        assert await _claim_two(conn, big) == "held"
    finally:
        await conn.close()
    for statement, runs in (
        ("DELETE FROM seat_free f WHERE", 4),  # each seat of both claims
        ("h.kind IN ('wheelchair', 'companion')", 2),  # each explicit seat's kind
        ("FOR NO KEY UPDATE OF f SKIP LOCKED", 2),  # each seat of the window best available took
        ("v_rows || h.row_number", 2),  # and its row, position and label
        ("h.ended_at IS NULL", 2),  # the client's live holds, by its index
    ):
        ran = [plan for plan in plans if statement in plan]
        conditions = [
            line
            for plan in ran
            for line in plan.splitlines()
            if "Cond:" in line or "Filter:" in line
        ]
        assert len(ran) == runs, statement
        assert conditions, statement
        assert not [line for line in conditions if re.search(r"'([0-9a-f]{8}-|patron-)", line)], ran
    [count] = [plan for plan in plans if "h.ended_at IS NULL" in plan][:1]
    assert "hold_live_client" in count, count
