"""The audit trail: who did what, when, written in the transaction of the action itself.

Cross-cutting: every part records its staff actions here (the table is `staff_action`,
migration 001), so no part reaches into the staff part's store to do it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def record_action(
    conn: asyncpg.Connection,
    staff_id: UUID | None,
    action: str,
    subject_type: str,
    subject_id: object,
    detail: dict[str, Any] | None = None,
) -> None:
    """Who did what, when: written in the transaction of the action itself."""
    await conn.execute(
        """
        INSERT INTO staff_action (staff_id, action, subject_type, subject_id, detail)
        VALUES ($1, $2, $3, $4, $5)
        """,
        staff_id,
        action,
        subject_type,
        str(subject_id),
        detail or {},
    )
