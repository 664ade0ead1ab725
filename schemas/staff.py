"""Staff accounts and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Role = Literal["staff", "manager"]
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^@\s\x00]+@[^@\s\x00]+$", max_length=254, examples=["staff@example.org"]
    ),
]


class StaffMember(msgspec.Struct, frozen=True):
    id: UUID
    email: str
    name: str
    role: Role


class LoginIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class Session(msgspec.Struct, frozen=True):
    """A bearer token: send it as `Authorization: Bearer <token>`."""

    token: str
    expires_at: datetime
    staff: StaffMember


class StaffMemberIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=1024)]
    role: Role = "staff"
