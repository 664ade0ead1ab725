"""The OpenAPI document's helpers: the problem+json answers of an operation in one call, and the
docs page at /schema, served from the package (services/apidocs/) under a strict CSP."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference

from schemas.common import Problem
from services.staff.auth import PUBLIC
from services.static import static_router

PROBLEM_MEDIA_TYPE = "application/problem+json"
_DESCRIPTIONS = {
    400: "The request is not valid: `errors` names each field and the reason",
    401: "No valid staff token",
    403: "The staff member's role is too low",
    404: "Not found",
    409: "Conflicts with the current state",
    410: "No longer available",
    412: "The resource changed since the given version",
    415: "The body is not application/json",
    422: "Breaks a rule: `errors` names the field",
    429: "Too many requests from this caller: try again after `Retry-After` seconds",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route handler: each status answered as an RFC 9457 Problem (`complete`
    adds those every operation of its kind may answer)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(status, "Refused"),
            media_type=PROBLEM_MEDIA_TYPE,
        )
        for status in statuses
    }


def complete(document: OpenAPI) -> OpenAPI:
    """What every operation may answer, added once here rather than on each route: a 400 problem
    (in place of Litestar's plain-JSON default), a 415 where it takes a body, 401 and 403 where
    it needs a staff token, and a 200 replay where a retry with the same Idempotency-Key answers
    what the first request made. Mutates and returns `document`."""
    for item in (document.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.patch, item.delete):
            if operation is not None:
                _complete(operation)
    return document


def _complete(operation: Operation) -> None:
    responses = operation.responses if operation.responses is not None else {}
    operation.responses = responses
    responses["400"] = _problem(400)
    if operation.request_body is not None:
        responses.setdefault("415", _problem(415))
    if operation.security:
        responses.setdefault("401", _problem(401))
        responses.setdefault("403", _problem(403))
    headers = {p.name for p in operation.parameters or [] if not isinstance(p, Reference)}
    created = responses.get("201")
    if "Idempotency-Key" in headers and isinstance(created, OpenAPIResponse):
        responses.setdefault(
            "200",
            OpenAPIResponse(
                description="A retry with the same Idempotency-Key: what the first request made "
                "(`Idempotent-Replayed: true`)",
                content=created.content,
            ),
        )


def _problem(status: int) -> OpenAPIResponse:
    schema = Reference(ref=f"#/components/schemas/{Problem.__name__}")
    return OpenAPIResponse(
        description=_DESCRIPTIONS.get(status, "Refused"),
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=schema)},
    )


DOCS_PATH = "/schema"
ASSETS = Path(__file__).resolve().parent / "apidocs"
_ASSET_URL = f"{DOCS_PATH}/assets"
# The docs pages load only the package's own files: no CDN, no inline script, no framing.
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI (swagger-ui-dist, vendored in services/apidocs/swagger-ui with its licence),
    started by our own init.js; at /schema and /schema/swagger."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"], favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema["info"]["title"]))
        document = escape(self.get_openapi_json_route(request))
        return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: API</title>
<link rel="stylesheet" href="{_ASSET_URL}/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-url="{document}"></div>
<script src="{_ASSET_URL}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{_ASSET_URL}/init.js"></script>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        router.register(static_router("/assets", ASSETS, name="api-docs-assets"))


def docs_router() -> Router:
    """The router of /schema (the document and its page): public, under DOCS_HEADERS."""
    return Router(
        DOCS_PATH,
        route_handlers=[],
        include_in_schema=False,
        opt=PUBLIC,
        response_headers=[ResponseHeader(name=k, value=v) for k, v in DOCS_HEADERS.items()],
    )
