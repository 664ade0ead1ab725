"""Prometheus metrics of the API, with the official client library.

- HTTP: Litestar's Prometheus middleware counts requests by route template, method and status,
  with a latency histogram (`usher_http_requests_total`, `usher_http_request_duration_seconds`,
  `usher_http_requests_in_progress`).
- Refusals: every 4xx problem the API answers, by route and problem slug
  (`usher_refusals_total{route, reason}`): holds refused because seats were taken, the sale is
  closed, a limit was reached, and so on.
- The database pool: connections in use and requests waiting for one, per process.

`usher serve --workers N` runs N processes: the client library's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by `usher serve`) adds their counters up, so one scrape of any
process sees them all. Business counts that must not be counted once per process (holds made,
bookings, cancellations, device reservations) come from the relay, which publishes each event
exactly once (workers/metrics.py).
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)

from services.errors import NotAuthenticated

LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]

REFUSALS = Counter(
    "usher_refusals",
    "Requests refused with a 4xx problem, by route template and problem slug",
    ["route", "reason"],
)
POOL_IN_USE = Gauge(
    "usher_db_pool_in_use",
    "Database connections held by requests",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "usher_db_pool_waiting",
    "Requests waiting for a database connection",
    multiprocess_mode="livesum",
)


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="usher",
        prefix="usher_http",
        group_path=True,  # label by route template, not by each screening's id
        buckets=list(LATENCY_BUCKETS),
        exclude=["^/metrics$"],
    )


def count_refusal(request: Request[Any, Any, Any], status: int, slug: str) -> None:
    if 400 <= status < 500:
        route = str(request.scope.get("path_template") or "unmatched")
        REFUSALS.labels(route=route, reason=slug).inc()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


@get(
    "/metrics",
    opt={"exclude_from_auth": True},
    tags=["health"],
    summary="Prometheus metrics",
    include_in_schema=False,
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The metrics in Prometheus' text format. With `USHER_METRICS_TOKEN` set, the scraper
    sends it as a bearer token; otherwise keep /metrics off the public ingress."""
    expected: str = request.app.state.settings.metrics_token
    if expected:
        import hmac

        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise NotAuthenticated("the metrics token is missing or wrong")
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST, status_code=200)
