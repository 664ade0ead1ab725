"""Every error answers RFC 9457 problem+json, mapped once here.

Usher's own `UsherError`s carry their status, slug and extra members; Litestar's validation
errors become `errors: [{field, pointer, reason, source}]`; any other HTTP error keeps its status;
anything unexpected is logged and answered as a 500 problem without internals.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from services.errors import MalformedBody, UsherError, field_error
from services.metrics import count_refusal
from services.outages import UNAVAILABLE

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
    count_refusal(request, status, slug)
    return Response(body, status_code=status, media_type=MEDIA_TYPE)


def _usher_error(request: Request[Any, Any, Any], exc: UsherError) -> Response[dict[str, Any]]:
    response = problem(exc.status, exc.slug, exc.title, exc.detail, request, **exc.extra)
    response.headers.update(getattr(exc, "headers", {}))  # Retry-After of a 429
    return response


# msgspec names a missing or unknown field in its message, and so does schemas' check_email (run
# in a Struct's __post_init__, whose errors msgspec locates at the Struct, not at the field)
_MISSING = re.compile(
    r"^(?:Object (?:missing required|contains unknown) field|Invalid e-mail address in field)"
    r" `([^`]+)`"
)
# Litestar's own words for a missing parameter, the only place they name it
_MISSING_PARAMETER = re.compile(r"^Missing required (\w+) parameter '([^']+)'")


def _public_name(request: Request[Any, Any, Any], key: str) -> str:
    """The name a client used for a parameter (`from`), not the Python one (`from_date`)."""
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters[key]
        alias = getattr(parameter.kwarg_definition, "name", None)
    except (AttributeError, KeyError):
        return key
    return str(alias) if alias else key


def _field_error(request: Request[Any, Any, Any], item: dict[str, Any]) -> dict[str, str]:
    message = str(item.get("message", "invalid value"))
    source = item.get("source", "body")
    source = str(getattr(source, "value", source))
    field = str(item.get("key", ""))
    if field == "data":  # the body as a whole: the path is in msgspec's message
        field = ""
    if " - at `$" in message:
        message, _, path = message.partition(" - at `$")
        field = (field + path.rstrip("`")).lstrip(".")
    if missing := _MISSING.match(message):
        field = f"{field}.{missing.group(1)}".lstrip(".")
    if source != "body":
        field = _public_name(request, field)
    return field_error(field, message, source)


def _validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    items = exc.extra if isinstance(exc.extra, list) else []
    errors = [_field_error(request, item) for item in items if isinstance(item, dict)]
    if not errors and (missing := _MISSING_PARAMETER.match(str(exc.detail))):
        source, name = missing.groups()
        errors.append(field_error(name, f"missing required {source} parameter", source))
    if not errors:
        errors.append(field_error("", str(exc.detail), "body"))
    fields = ", ".join(e["field"] for e in errors)
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
    if status == 400 and "malformed" in str(exc.detail).lower():
        return _usher_error(request, MalformedBody(str(exc.detail)))
    response = problem(
        status,
        slug.get(status, "http-error"),
        title.get(status, "Request refused"),
        str(exc.detail),
        request,
    )
    response.headers.update(headers)
    return response


def _bad_data(request: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[dict[str, Any]]:
    """PostgreSQL refused a value the schemas let through (a data exception, SQLSTATE 22xxx):
    the client's input, not our bug, so a 400 rather than a 500."""
    log.warning("data error on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        400,
        "invalid-data",
        "A value cannot be stored",
        f"a value in the request cannot be stored: {exc.args[0] if exc.args else exc}",
        request,
    )


RETRY_AFTER_SECONDS = 2


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """PostgreSQL (or Redis, for what needs it) is unreachable: the client may try again soon.
    Logged once per kind of failure in a row, not once per request."""
    now = time.monotonic()
    if now - _last_logged[0] > UNAVAILABLE_LOG_EVERY:
        _last_logged[0] = now
        log.warning("a server is unreachable (%r); answering 503 until it is back", exc)
    response = problem(
        503,
        "unavailable",
        "Service unavailable",
        "The box office cannot reach its database right now; try again in a moment.",
        request,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


UNAVAILABLE_LOG_EVERY = 30.0  # seconds: an outage is logged once, not once per request
_last_logged = [float("-inf")]


# asyncpg's words when a request's connection was lost under it: the pool took back a
# connection the server closed, and the request's next statement finds it gone.
_LOST = ("connection has been released back to the pool", "connection is closed")


def _lost_connection(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.InterfaceError) and any(w in str(exc) for w in _LOST)


def _during_outage(exc: BaseException | None) -> bool:
    """An outage, or an error raised while one was being handled: a transaction's exit on a
    connection the outage closed raises InterfaceError with the outage as its context."""
    for _ in range(8):  # the chain is short; a cycle must not hang us
        if exc is None:
            return False
        if isinstance(exc, UNAVAILABLE) or _lost_connection(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if _during_outage(exc):  # raised inside another exception's handling, or wrapped
        return _unavailable(request, exc)
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
    asyncpg.DataError: _bad_data,
    **dict.fromkeys(UNAVAILABLE, _unavailable),
    Exception: _unexpected,
}
