"""The Litestar app: create_app() wires settings, state, auth, error mapping and every route."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from schemas.common import Problem
from services import tracing
from services.access.routes import ACCESS_ROUTES
from services.bodies import UsherRequest
from services.box_office.routes import BOX_OFFICE_ROUTES
from services.callers import proxy_headers
from services.catalog.routes import CATALOG_ROUTES
from services.door.routes import DOOR_ROUTES
from services.metrics import metrics, prometheus_config
from services.money.routes import MONEY_ROUTES
from services.notifications.routes import NOTIFICATION_ROUTES
from services.openapi import DOCS_PATH, SwaggerPage, complete, docs_router
from services.prices.routes import PRICES_ROUTES
from services.problems import EXCEPTION_HANDLERS
from services.request_log import request_log_middleware
from services.settings import Settings, get_settings, key_problem
from services.staff.auth import PUBLIC, jwt_auth
from services.staff.routes import STAFF_ROUTES
from services.staff.status import StaffStatus
from services.state import DEPENDENCIES, connection, lifespan
from services.takings.routes import TAKINGS_ROUTES


@get("/livez", opt=PUBLIC, tags=["health"], summary="Liveness: the process answers")
async def livez() -> dict[str, str]:
    """Depends on nothing outside the process: an outage never gets a live API restarted."""
    return {"status": "ok"}


@get(
    ["/readyz", "/healthz"],
    opt=PUBLIC,
    tags=["health"],
    summary="Readiness: PostgreSQL answers (/healthz is the same check)",
)
async def readyz(state: State) -> dict[str, str]:
    """Ready when PostgreSQL answers (503 problem+json with Retry-After otherwise). Not Redis:
    the API sells without it (the live feed and hold-expiry jobs wait for it)."""
    async with connection(state) as conn:
        await conn.fetchval("SELECT 1")
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API. Tests pass their own settings; servers read them from the environment."""
    settings = settings or get_settings()
    if (
        problem := key_problem(settings.auth, settings.payments)
    ) is not None:  # `usher serve` says so first
        raise RuntimeError(problem)
    if not tracing.enabled():
        tracing.configure("usher-api", settings.otlp_endpoint)
    # the caller's address first (services/callers.py), then the request's id and metrics
    middleware: list[Any] = [
        proxy_headers(settings),
        request_log_middleware,
        prometheus_config().middleware,
    ]
    if tracing.enabled():
        middleware.insert(1, tracing.asgi_middleware())
    auth = jwt_auth(settings)
    route_handlers: list[Any] = [
        livez,
        readyz,
        metrics,
        *CATALOG_ROUTES,
        *BOX_OFFICE_ROUTES,
        *ACCESS_ROUTES,
        *STAFF_ROUTES,
        *NOTIFICATION_ROUTES,
        *DOOR_ROUTES,
        *PRICES_ROUTES,
        *TAKINGS_ROUTES,
        *MONEY_ROUTES,
    ]
    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "jwt": auth,
                "staff_status": StaffStatus(settings.auth.status_seconds),
            }
        ),
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        on_app_init=[auth.on_app_init],
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),  # USHER_CORS_ORIGINS
            allow_headers=["*"],
            expose_headers=["ETag", "Location", "Idempotent-Replayed"],
        ),
        openapi_config=OpenAPIConfig(
            title="Usher",
            version="0.1.0",
            description=(
                "The box office of an independent cinema: the programme, seat holds and "
                "bookings, access devices and the staff feed. Every error is "
                "application/problem+json (RFC 9457)."
            ),
            path=DOCS_PATH,
            render_plugins=[SwaggerPage()],
            openapi_router=docs_router(),
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                },
            ),
        ),
        signature_types=[Problem],
        logging_config=None,  # the process's own (services/logs.py: plain or JSON lines)
        request_class=UsherRequest,
        debug=False,
    )
    complete(app.openapi_schema)  # the document is built once, here, and served as completed
    return app
