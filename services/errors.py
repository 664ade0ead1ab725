"""Usher's own errors; each maps to one RFC 9457 problem+json answer (services/problems.py)."""

from __future__ import annotations

from typing import Any


class UsherError(Exception):
    """Base of every error Usher raises on purpose; `status` and `slug` become the problem's."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(UsherError):
    """The request is well-formed JSON but breaks a rule; `errors` names the fields."""

    status = 422
    slug = "invalid-input"
    title = "The request breaks a rule"

    def __init__(
        self,
        detail: str,
        *,
        field: str,
        reason: str | None = None,
        source: str = "body",
        **extra: Any,
    ) -> None:
        error = {"field": field, "reason": reason or detail}
        if source == "body":
            error["pointer"] = _pointer(field)
        else:  # a header or a query parameter: no place in the body to point at
            error["source"] = source
        super().__init__(detail, errors=[error], **extra)


class NotFound(UsherError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(UsherError):
    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class Gone(UsherError):
    status = 410
    slug = "gone"
    title = "No longer available"


class NotAuthenticated(UsherError):
    status = 401
    slug = "not-authenticated"
    title = "Authentication required"


class NotAllowed(UsherError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class PreconditionFailed(UsherError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class TooManyRequests(UsherError):
    """A rate limit (services/rate_limits.py): answered with `Retry-After` in seconds."""

    status = 429
    slug = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


def _pointer(field: str) -> str:
    """`seats[2].label` -> `#/seats/2/label` (a JSON Pointer into the request body)."""
    parts: list[str] = []
    for piece in field.replace("]", "").replace("[", ".").split("."):
        if piece:
            parts.append(piece.replace("~", "~0").replace("/", "~1"))
    return "#/" + "/".join(parts)
