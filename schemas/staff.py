"""Staff accounts and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.common import EmailAddress, Name, check_email

Role = Literal["staff", "manager"]
Email = EmailAddress


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
    name: Name
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=1024)]
    role: Role = "staff"

    def __post_init__(self) -> None:
        check_email("email", self.email)
