"""Every error answers RFC 9457 problem+json, mapped once here.

Usher's own `UsherError`s carry their status, slug and extra members; Litestar's validation
errors become `errors: [{field, pointer, reason, source}]`; any other HTTP error keeps its status;
anything unexpected is logged and answered as a 500 problem without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from services.errors import UsherError, _pointer

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://usher.readthedocs.io/problems/"
log = logging.getLogger("usher.errors")


def problem(
    status: int, slug: str, title: str, detail: str, request: Request[Any, Any, Any], **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extra)
    return Response(body, status_code=status, media_type=MEDIA_TYPE)


def _usher_error(request: Request[Any, Any, Any], exc: UsherError) -> Response[dict[str, Any]]:
    return problem(exc.status, exc.slug, exc.title, exc.detail, request, **exc.extra)


def _validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        field = str(item.get("key", ""))
        if " - at `$" in message:  # msgspec names the nested path inside the message
            message, _, path = message.partition(" - at `$")
            field = (field + path.rstrip("`")).lstrip(".")
        errors.append(
            {
                "field": field or "body",
                "pointer": _pointer(field) if field else "#",
                "reason": message,
                "source": str(item.get("source", "body")),
            }
        )
    if not errors:
        detail = str(exc.detail)
        if "Malformed" in detail or "JSON" in detail:
            errors.append({"field": "body", "pointer": "#", "reason": detail, "source": "body"})
    fields = ", ".join(e["field"] for e in errors) or "the request"
    return problem(
        400,
        "validation-error",
        "The request is not valid",
        f"Invalid value for {fields}",
        request,
        errors=errors,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    slug = {401: "not-authenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
    title = {401: "Authentication required", 403: "Not allowed", 404: "Not found"}
    status = exc.status_code
    headers = dict(exc.headers or {})
    response = problem(
        status,
        slug.get(status, "http-error"),
        title.get(status, "Request refused"),
        str(exc.detail),
        request,
    )
    response.headers.update(headers)
    return response


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal error",
        "Something went wrong on our side; it has been logged.",
        request,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    UsherError: _usher_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
