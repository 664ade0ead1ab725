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
        super().__init__(detail, errors=[field_error(field, reason or detail, source)], **extra)


class InvalidParameter(UsherError):
    """A query parameter or header whose value is not one the API takes (a cursor it did not
    give out): a 400 `validation-error`, as Litestar's own checks of parameters answer."""

    slug = "validation-error"
    title = "The request is not valid"

    def __init__(self, detail: str, *, field: str, reason: str, source: str = "query") -> None:
        super().__init__(detail, errors=[field_error(field, reason, source)])


class MalformedBody(UsherError):
    """The body is not JSON at all: truncated, not UTF-8, nested too deep."""

    slug = "malformed-body"
    title = "The request body is not valid JSON"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, errors=[field_error("", reason, "body")])


class UnsupportedMediaType(UsherError):
    """A body that is not `application/json` (services/bodies.py says why it matters)."""

    status = 415
    slug = "unsupported-media-type"
    title = "The body must be application/json"

    def __init__(self, detail: str) -> None:
        reason = "not application/json"
        super().__init__(detail, errors=[field_error("Content-Type", reason, "header")])


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


def field_error(field: str, reason: str, source: str = "body") -> dict[str, str]:
    """One entry of a problem's `errors`: the field as the client named it, why, and where it
    was (`body`, `query`, `path` or `header`); a body field also gets its JSON Pointer (`#` for
    the body as a whole)."""
    error = {"field": field or source, "reason": reason, "source": source}
    if source == "body":
        error["pointer"] = _pointer(field) if field else "#"
    return error


def _pointer(field: str) -> str:
    """`seats[2].label` -> `#/seats/2/label` (a JSON Pointer into the request body)."""
    parts: list[str] = []
    for piece in field.replace("]", "").replace("[", ".").split("."):
        if piece:
            parts.append(piece.replace("~", "~0").replace("/", "~1"))
    return "#/" + "/".join(parts)
