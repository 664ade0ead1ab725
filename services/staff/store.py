"""SQL for staff accounts and the audit trail of staff actions."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from schemas.staff import Role, StaffMember
from services.errors import Conflict
from services.ids import uuid7


async def create_staff(
    conn: asyncpg.Connection, *, email: str, name: str, role: Role, password_hash: str
) -> StaffMember:
    staff_id = uuid7()
    try:
        await conn.execute(
            """
            INSERT INTO staff_user (id, email, name, role, password_hash)
            VALUES ($1, $2, $3, $4, $5)
            """,
            staff_id,
            email,
            name,
            role,
            password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a staff account for {email} already exists", field="email") from exc
    return StaffMember(id=staff_id, email=email, name=name, role=role)


async def set_password(conn: asyncpg.Connection, email: str, password_hash: str) -> bool:
    result: str = await conn.execute(
        "UPDATE staff_user SET password_hash = $2 WHERE lower(email) = lower($1)",
        email,
        password_hash,
    )
    return result != "UPDATE 0"


async def account_active(conn: asyncpg.Connection, staff_id: UUID) -> bool:
    """Whether the account exists and is active (a deleted one is not)."""
    active = await conn.fetchval("SELECT active FROM staff_user WHERE id = $1", staff_id)
    return active is True


async def find_for_login(conn: asyncpg.Connection, email: str) -> tuple[StaffMember, str] | None:
    row = await conn.fetchrow(
        """
        SELECT id, email, name, role, password_hash FROM staff_user
        WHERE lower(email) = lower($1) AND active
        """,
        email,
    )
    if row is None:
        return None
    member = StaffMember(id=row["id"], email=row["email"], name=row["name"], role=row["role"])
    return member, row["password_hash"]
