"""Prometheus metrics of the API, with the official client library.

- HTTP: Litestar's Prometheus middleware counts requests by route template, method and status,
  with a latency histogram (`usher_http_requests_total`, `usher_http_request_duration_seconds`,
  `usher_http_requests_in_progress`), through HttpMetrics: the same metrics, cheaper.
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
import time
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from services.errors import NotAuthenticated

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

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


class HttpMetrics(PrometheusMiddleware):
    """Litestar's Prometheus middleware, its metrics, labels and values unchanged, for half its
    cost: for every request it made a Request and a URL object and looked its metrics' label
    children up four times, 0.05 ms of the API's 0.6 ms of CPU a hold (measured by leaving it
    out); here each route's children are kept, and it costs some 0.025 ms. Set as the config's
    `middleware_class`, the library's hook for this; a config this does not cover (extra
    labels, exemplars, excluded methods, raw paths) takes the library's own way.
    tests/unit/test_http_metrics.py sends the same requests through both and compares."""

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._own = config.group_path and not (
            config.labels or config.exemplars or config.excluded_http_methods
        )
        self._in_progress: dict[tuple[str, str], Gauge] = {}
        # per route, method and status: requests, durations, and errors (5xx only)
        self._answered: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter | None]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        # the library's default labels, in its order (a metric is made with the first set)
        return {
            "method": method,
            "path": path,
            "status_code": status,
            "app_name": self._config.app_name,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._own:
            await super().__call__(scope, receive, send)
            return
        method = scope["method"] if scope["type"] == ScopeType.HTTP else str(scope["type"])
        path = scope["path_template"]
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            labels = self._labels(method, path, 200)
            in_progress = self.requests_in_progress(labels).labels(*labels.values())
            self._in_progress[method, path] = in_progress
        started = time.perf_counter()
        answer = [200, 0.0]  # status, seconds to the body

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer[0] = message["status"]
            elif message["type"] == "http.response.body":
                answer[1] = time.perf_counter() - started
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            status = int(answer[0])
            children = self._answered.get((method, path, status))
            if children is None:
                labels = self._labels(method, path, status)
                values = [*labels.values()]
                errors = self.requests_error_count(labels) if status >= 500 else None
                children = (
                    self.request_count(labels).labels(*values),
                    self.request_time(labels).labels(*values),
                    errors.labels(*values) if errors is not None else None,
                )
                self._answered[method, path, status] = children
            count, duration, error = children
            if error is not None:
                error.inc()
            count.inc()
            duration.observe(answer[1])


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="usher",
        prefix="usher_http",
        group_path=True,  # label by route template, not by each screening's id
        buckets=list(LATENCY_BUCKETS),
        exclude=["^/metrics$"],
        middleware_class=HttpMetrics,
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
