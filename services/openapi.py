"""OpenAPI helpers: document the problem+json answers of an operation in one call."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from schemas.common import Problem

_DESCRIPTIONS = {
    400: "The request is not valid: `errors` names each field and the reason",
    401: "No valid staff token",
    403: "The staff member's role is too low",
    404: "Not found",
    409: "Conflicts with the current state",
    410: "No longer available",
    412: "The resource changed since the given version",
    422: "Breaks a rule: `errors` names the field",
    429: "Too many requests from this caller: try again after `Retry-After` seconds",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route handler: each status answered as an RFC 9457 Problem."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(status, "Refused"),
            media_type="application/problem+json",
        )
        for status in (400, *statuses)
    }
