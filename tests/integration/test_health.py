"""Liveness and readiness of the API, and its answer while PostgreSQL is unreachable: 503
problem+json with Retry-After, never a 500. "Unreachable" is a port where nothing listens (a
real refused connection); tests/integration/faults/ restarts a real PostgreSQL under load."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient

from services.app import create_app
from services.settings import Settings, get_settings
from tests.integration.events.conftest import free_port


def _pointing(
    settings: Settings, *, database: str | None = None, redis: str | None = None
) -> Settings:
    return msgspec.structs.replace(
        settings,
        database=msgspec.structs.replace(settings.database, url=database or settings.database.url),
        redis=msgspec.structs.replace(settings.redis, url=redis or settings.redis.url),
    )


async def test_the_api_is_ready_without_redis(environment: dict[str, str], db: object) -> None:
    settings = _pointing(get_settings(), redis=f"redis://127.0.0.1:{free_port()}/0")
    async with AsyncTestClient(app=create_app(settings)) as client:
        for path in ("/livez", "/readyz", "/healthz"):
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.text)
        answer = await client.get("/v1/screenings")
        assert answer.status_code == 200, answer.text


async def test_without_postgresql_the_api_is_live_not_ready_and_answers_503(
    environment: dict[str, str],
) -> None:
    port = free_port()
    down = f"postgresql://postgres@127.0.0.1:{port}/usher"
    settings = _pointing(get_settings(), database=down)
    async with AsyncTestClient(app=create_app(settings)) as client:  # starts anyway
        assert (await client.get("/livez")).status_code == 200
        for path in ("/readyz", "/healthz", "/v1/screenings"):
            answer = await client.get(path)
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert int(answer.headers["retry-after"]) > 0
            body = answer.json()
            assert body["status"] == 503
            assert body["type"].endswith("/unavailable")
