"""The door refuses a "paid, not seated" booking (docs/money.md): it has no seats to admit to,
and admits it once staff have seated it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.door import rules

NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "result"), [("unseated", "refused"), ("confirmed", "admitted")])
def test_an_unseated_booking_does_not_get_in(status: str, result: str) -> None:
    screening = rules.Screening(uuid.uuid4(), NOW + timedelta(minutes=10), "on_sale")
    ticket = rules.Ticket(1, uuid.uuid4(), "A1", "A", "standard", "adult")
    booking = rules.Booking(uuid.uuid4(), "ABC1234", screening, status, True, (ticket,))
    scan = rules.Scan(screening.id, 1, rules.Entry(NOW, "main", "scanner-1"))
    decision = rules.decide(scan, booking)
    assert decision.result == result
    if result == "refused":
        assert decision.reason == "cancelled"
        assert "has no seats" in decision.message
