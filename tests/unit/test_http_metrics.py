"""services.metrics.HttpMetrics counts what Litestar's own Prometheus middleware counts: the same
requests through each, on the same metrics, add the same samples."""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Litestar, get, post
from litestar.exceptions import ClientException
from litestar.params import FromPath
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from services.metrics import LATENCY_BUCKETS, HttpMetrics

PREFIX = "usher_http_compared"  # metrics of this test's own


@get("/seats/{screening:int}")
async def seat_map(screening: FromPath[int]) -> dict[str, int]:
    return {"screening": screening}


@post("/holds")
async def make_hold() -> dict[str, str]:
    return {"hold": "made"}


@post("/refused")
async def refused() -> None:
    raise ClientException("no", status_code=409)


@get("/broken")
async def broken() -> None:
    raise RuntimeError("a bug")


def samples() -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every sample of this test's metrics but the durations' sums (their values are times)."""
    found: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for family in REGISTRY.collect():
        if family.name.startswith(PREFIX):
            for sample in family.samples:
                if not sample.name.endswith(("_sum", "_created", "_bucket")):
                    found[sample.name, tuple(sorted(sample.labels.items()))] += sample.value
    return found


def counted(middleware: type[PrometheusMiddleware]) -> Counter[Any]:
    config = PrometheusConfig(
        app_name="usher",
        prefix=PREFIX,
        group_path=True,
        buckets=list(LATENCY_BUCKETS),
        middleware_class=middleware,
    )
    app = Litestar([seat_map, make_hold, refused, broken], middleware=[config.middleware])
    before = samples()
    with TestClient(app, raise_server_exceptions=False) as client:
        for n in range(3):
            assert client.get(f"/seats/{n}").status_code == 200
        assert client.post("/holds").status_code == 201
        assert client.post("/refused").status_code == 409
        assert client.get("/broken").status_code == 500
        assert client.get("/seats/7", headers={"X-Request-ID": "abc"}).status_code == 200
    after = samples()
    after.subtract(before)
    return +after


def test_the_same_requests_add_the_same_samples() -> None:
    ours, litestars = counted(HttpMetrics), counted(PrometheusMiddleware)
    assert ours == litestars
    route = ("path", "/seats/{screening}")
    assert (
        ours[
            f"{PREFIX}_requests_total",
            (("app_name", "usher"), ("method", "GET"), route, ("status_code", "200")),
        ]
        == 4
    )
    assert [labels for name, labels in ours if name == f"{PREFIX}_requests_error_total"] == [
        (("app_name", "usher"), ("method", "GET"), ("path", "/broken"), ("status_code", "500"))
    ]
