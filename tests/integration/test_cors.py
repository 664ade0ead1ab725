"""CORS through the app: any origin by default (no cookies are used, so none can be abused), and
only the listed ones when USHER_CORS_ORIGINS says so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.app import create_app
from services.settings import get_settings

OURS = "https://tickets.cinema.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, x-hold-token, idempotency-key",
}


@pytest.fixture
async def listed(environment) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = msgspec.structs.replace(
        get_settings(), cors_origins=(OURS, "https://*.festival.example")
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_any_origin_by_default(client):
    answer = await client.get("/healthz", headers={"Origin": "https://anyone.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    assert "idempotent-replayed" in answer.headers["access-control-expose-headers"].lower()
    preflight = await client.options(
        "/v1/holds/x/confirm", headers={"Origin": "https://anyone.example", **PREFLIGHT}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"


async def test_only_the_listed_origins_when_set(listed):
    for origin in (OURS, "https://box.festival.example"):
        answer = await listed.get("/healthz", headers={"Origin": origin})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == origin
        assert answer.headers["vary"] == "Origin"
        preflight = await listed.options(
            "/v1/holds/x/confirm", headers={"Origin": origin, **PREFLIGHT}
        )
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"]

    for stranger in ("https://evil.example", "https://tickets.cinema.example.evil.example"):
        answer = await listed.get("/healthz", headers={"Origin": stranger})
        assert answer.status_code == 200  # served, but the browser will not let the page read it
        assert "access-control-allow-origin" not in answer.headers
        preflight = await listed.options(
            "/v1/holds/x/confirm", headers={"Origin": stranger, **PREFLIGHT}
        )
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers

    # the staff page is served from the API's own origin: CORS never applies to it
    assert (await listed.get("/staff")).status_code == 200
