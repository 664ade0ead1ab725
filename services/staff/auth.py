"""Staff authentication: JWT bearer tokens (HS256) signed with USHER_SECRET_KEY, and role guards.

Every route needs a staff token unless its handler (or its router) sets
`opt={"exclude_from_auth": True}` (see `PUBLIC`): public reads and patron actions, which carry
their own secrets, do, and so do the API docs (services/openapi.py). No path is excluded by
pattern: a pattern also matches the paths it was not meant for (`/v1/films/schemata`).
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeAlias
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from schemas.staff import Role, StaffMember
from services.errors import NotAllowed, NotAuthenticated
from services.settings import Settings
from services.staff.status import StaffStatus

PUBLIC: dict[str, Any] = {"exclude_from_auth": True}
StaffRequest: TypeAlias = Request[StaffMember, Any, Any]
_RANK: dict[str, int] = {"staff": 1, "manager": 2}
MAX_TOKENS = 4096  # verified tokens kept per process


async def _staff_from_token(
    token: Token, connection: ASGIConnection[Any, Any, Any, Any]
) -> StaffMember | None:
    """The token's staff member, None (401) when the token lacks one or the account is missing
    or deactivated: the account's status is read at most once per USHER_STAFF_STATUS_SECONDS
    per account and process (services/staff/status.py)."""
    extras = token.extras
    try:
        member = StaffMember(
            id=UUID(token.sub), email=extras["email"], name=extras["name"], role=extras["role"]
        )
    except (KeyError, ValueError):
        return None
    state = connection.app.state
    status: StaffStatus = state.staff_status
    return member if await status.active(state.pool, member.id) else None


class VerifiedToken(Token):
    """A staff token whose signature this process has verified keeps its verdict until it
    expires: a door sends the same token with every scan, and PyJWT's checks cost a scan more
    CPU than its SQL's Python (bench/door_profile.py). A token is only ever taken from the cache
    for the same text, secret and checks, and not once its `exp` has passed."""

    _verified: ClassVar[dict[tuple[Any, ...], Token]] = {}

    @classmethod
    def decode(  # type: ignore[override]  # the same parameters, named as Token's
        cls, encoded_token: str, secret: str, algorithm: str, **checks: Any
    ) -> Token:
        key = (encoded_token, secret, algorithm, *sorted(checks.items()))
        known = cls._verified.get(key)
        if known is not None and known.exp > datetime.now(UTC) and "nbf" not in known.extras:
            return known
        token = Token.decode(encoded_token, secret, algorithm, **checks)
        if len(cls._verified) >= MAX_TOKENS:
            cls._verified.clear()
        cls._verified[key] = token
        return token


def jwt_auth(settings: Settings) -> JWTAuth[StaffMember, Token]:
    return JWTAuth[StaffMember, Token](
        token_cls=VerifiedToken,
        retrieve_user_handler=_staff_from_token,
        token_secret=settings.auth.secret,
        default_token_expiration=timedelta(minutes=settings.auth.token_minutes),
    )


def issue_token(auth: JWTAuth[StaffMember, Token], member: StaffMember) -> tuple[str, datetime]:
    lifetime = auth.default_token_expiration
    token = auth.create_token(
        identifier=str(member.id),
        token_expiration=lifetime,
        token_extras={"email": member.email, "name": member.name, "role": member.role},
    )
    return token, datetime.now(UTC) + lifetime


async def staff_of(request: ASGIConnection[Any, Any, Any, Any]) -> StaffMember | None:
    """The staff member of an `Authorization: Bearer` token on a public route, if one is sent:
    checked exactly as the authentication middleware checks it elsewhere."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "bearer" or not encoded.strip():
        raise NotAuthenticated("send a staff token as `Authorization: Bearer <token>`")
    auth: JWTAuth[StaffMember, Token] = request.app.state.jwt
    try:
        token = auth.token_cls.decode(
            encoded_token=encoded.strip(),
            secret=auth.token_secret,
            algorithm=auth.algorithm,
            audience=auth.accepted_audiences,
            issuer=auth.accepted_issuers,
            require_claims=auth.require_claims,
            verify_exp=auth.verify_expiry,
            verify_nbf=auth.verify_not_before,
            strict_audience=auth.strict_audience,
        )
    except NotAuthorizedException as exc:
        raise NotAuthenticated("the staff token is not valid") from exc
    staff = auth.retrieve_user_handler(token, request)
    if inspect.isawaitable(staff):
        staff = await staff
    if not isinstance(staff, StaffMember):
        raise NotAuthenticated("the staff token is not valid")
    return staff


def require_role(role: Role) -> Any:
    """A guard: the request's staff member must hold `role` or a higher one (else 403).
    Async, though it awaits nothing: Litestar runs a plain function guard in a worker thread,
    a thread hand-off on every staff request (bench/door_profile.py found it on each scan)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        # A token whose role is not a staff role (a patron's, say) ranks below every role.
        if not isinstance(user, StaffMember) or _RANK.get(user.role, 0) < _RANK[role]:
            raise NotAllowed(f"this action needs the {role} role")

    return guard


staff_only = require_role("staff")
manager_only = require_role("manager")
