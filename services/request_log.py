"""Each request gets an id and one log line.

The id is the caller's `X-Request-ID` when it is a sane token (1-128 characters of letters,
digits and `._:-`, as a proxy or load balancer makes), otherwise a new one; it is returned in
the response's `X-Request-ID` and carried by every log record written while the request runs
(services/logs.py). The line, logger `usher.request`, says method, route, status and duration.
A plain ASGI middleware, so it costs one context switch of nothing on the hold path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.logs import request_id

log = logging.getLogger("usher.request")
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
HEADER = b"x-request-id"


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = _incoming(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers: list[Any] = list(message.get("headers", ()))
                headers.append((HEADER, rid.encode("ascii")))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            route = scope.get("path_template") or scope.get("path", "")
            log.info(
                "%s %s %d %.1f ms",
                scope.get("method", "-"),
                route,
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)

    return middleware
