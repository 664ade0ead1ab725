"""The one clock the service layer reads; rules never read it, they are given the time."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
