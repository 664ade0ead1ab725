"""A property of the door, against the real database: whatever sequence of scans and retries
(several scanners, same or new nonces, online scans and offline uploads in any order, uploads
retried), every ticket scanned ends with exactly one admission, no offline scan loses to a later
one, every other scan of a ticket is flagged once as a duplicate, and a retry answers the same."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.door import OfflineScan, ScanIn, UploadIn
from schemas.staff import StaffMember
from services.door import service
from services.settings import get_settings
from tests.integration.door.helpers import book, code_of

TICKETS = 6
SCANNERS = 3
# (online?, scanner, ticket, reuse an earlier nonce of this scanner?, minutes before now)
STEP = st.tuples(
    st.booleans(),
    st.integers(0, SCANNERS - 1),
    st.integers(0, TICKETS - 1),
    st.booleans(),
    st.integers(0, 15),
)
UPLOAD = st.tuples(st.just("upload"), st.integers(0, SCANNERS - 1), st.booleans())
PLANS = st.lists(st.one_of(STEP, UPLOAD), min_size=1, max_size=25)


async def _reset(pool: Any) -> None:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE admission, door_scan")
        await conn.execute("DELETE FROM outbox WHERE event_type LIKE 'admission.%'")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=PLANS)
# an offline scan made before an online one, uploaded after it: the offline scan wins
@example(plan=[(False, 1, 0, False, 5), (True, 0, 0, False, 0), ("upload", 1, True)])
async def test_any_sequence_of_scans_ends_with_one_admission_per_ticket(
    plan, client, tonight, demo
):
    async with demo.acquire() as conn:
        found = await conn.fetchrow(
            "SELECT b.id, count(bs.*) AS seats FROM booking b"
            " JOIN booking_seat bs ON bs.booking_id = b.id GROUP BY b.id"
        )
        row = await conn.fetchrow("SELECT id, email, name, role FROM staff_user LIMIT 1")
    if found is None or found["seats"] != TICKETS:
        await book(client, tonight, [f"C{n}" for n in range(1, TICKETS + 1)])
        async with demo.acquire() as conn:
            found = await conn.fetchrow("SELECT id FROM booking")
    await _reset(demo)
    member = StaffMember(**dict(row))
    booking = {"id": str(found["id"])}
    codes = [code_of(booking, n + 1) for n in range(TICKETS)]
    app_settings = get_settings()
    now = datetime.now(UTC)
    queued: dict[int, list[OfflineScan]] = defaultdict(list)
    nonces: dict[int, list[tuple[str, OfflineScan | None]]] = defaultdict(list)
    answers: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    scans_of: dict[int, set[tuple[int, str]]] = defaultdict(set)  # ticket -> scans
    offline_times: dict[int, list[datetime]] = defaultdict(list)
    uploaded: set[tuple[int, str]] = set()
    for n, step in enumerate(plan):
        if step[0] == "upload":
            _, scanner, retry = step
            if not queued[scanner]:
                continue
            body = UploadIn(f"s{scanner}", f"Door {scanner}", queued[scanner])
            for _ in range(2 if retry else 1):
                async with demo.acquire() as conn:
                    result = await service.upload(
                        conn, tonight, body, member, app_settings, now + timedelta(seconds=n)
                    )
                for item in result.scans:
                    answers[(scanner, item.nonce)].append(msgspec.to_builtins(item.answer))
            uploaded |= {(scanner, s.nonce) for s in queued[scanner]}
            queued[scanner] = []
            continue
        online, scanner, ticket, reuse, minutes = step
        earlier = [(nonce, s) for nonce, s in nonces[scanner] if (s is None) == online]
        if reuse and earlier:  # a retry: the same scan again
            nonce, offline = earlier[-1]
            if offline is not None:
                if (scanner, nonce) in uploaded:
                    queued[scanner].append(offline)
                continue
        else:
            nonce = f"n{n:04d}-{scanner}"
            offline = None
            if not online:
                offline = OfflineScan(codes[ticket], nonce, now - timedelta(minutes=minutes))
                offline_times[ticket].append(offline.scanned_at)
            nonces[scanner].append((nonce, offline))
            scans_of[ticket].add((scanner, nonce))
        if offline is not None:
            queued[scanner].append(offline)
            continue
        async with demo.acquire() as conn:
            answer = await service.scan(
                conn,
                ScanIn(tonight, codes[ticket], f"s{scanner}", nonce, f"Door {scanner}"),
                member,
                app_settings,
                datetime.now(UTC),
            )
        answers[(scanner, nonce)].append(msgspec.to_builtins(answer))

    for replies in answers.values():  # a retry answers what the first one answered
        assert len({msgspec.json.encode({**r, "replayed": False}) for r in replies}) == 1
        assert next(r["replayed"] for r in replies) is False
    async with demo.acquire() as conn:
        admitted = await conn.fetch(
            "SELECT s.label, a.scanned_at, a.scanner_id FROM admission a"
            " JOIN seat s ON s.id = a.seat_id WHERE a.undone_at IS NULL"
        )
        recorded = await conn.fetchval("SELECT count(*) FROM door_scan")
        conflicts = Counter(
            row["payload"]["seat_label"]
            for row in await conn.fetch(
                "SELECT payload FROM outbox WHERE event_type = 'admission.conflict'"
            )
        )
    sent = set(answers)
    assert recorded == len(sent)
    tickets_scanned = {t for t, scans in scans_of.items() if any(scan in sent for scan in scans)}
    labels = {f"C{t + 1}" for t in tickets_scanned}
    assert Counter(row["label"] for row in admitted) == Counter(labels)  # exactly one each
    for row in admitted:
        ticket = int(row["label"][1:]) - 1
        sent_scans = [s for s in scans_of[ticket] if s in sent]
        assert conflicts[row["label"]] == len(sent_scans) - 1  # every other scan flagged once
        times = [t for t in offline_times[ticket] if t is not None]
        uploaded_times = [
            s.scanned_at
            for scanner, nonce in sent_scans
            for n, s in nonces[scanner]
            if n == nonce and s is not None
        ]
        assert all(row["scanned_at"] <= t for t in uploaded_times), (row, times)
