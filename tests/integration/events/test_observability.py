"""Metrics, request ids and JSON logs, read from real `usher` processes the way Prometheus and a
log pipeline read them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from uuid import UUID

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from services.settings import Settings
from tests.integration.events.conftest import (
    Processes,
    free_port,
    published,
    wait_until,
    write_events,
)

FILMS = "/v1/films"


def samples(text: str, name: str) -> list[Sample]:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def total(found: Iterable[Sample], **labels: str) -> float:
    return sum(s.value for s in found if all(s.labels.get(k) == v for k, v in labels.items()))


async def wait_for_http(url: str) -> None:
    async def answers() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url, timeout=1)).status_code < 500
        except httpx.HTTPError:
            return False

    await wait_until(answers, within=90, every=0.1)  # two processes start slowly on a busy machine


async def test_api_metrics_add_up_across_processes_and_requests_carry_ids(
    settings: Settings, processes: Processes
) -> None:
    port = free_port()
    api = processes.start(
        settings,
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        USHER_LOG_FORMAT="json",
    )
    base = f"http://127.0.0.1:{port}"
    await wait_for_http(f"{base}/healthz")
    async with httpx.AsyncClient(base_url=base) as client:
        # new connections each time, so both processes answer some of them
        for _ in range(40):
            response = await client.get(FILMS, headers={"Connection": "close"})
            assert response.status_code == 200
        given = await client.get(FILMS, headers={"X-Request-ID": "till-7.abc:42"})
        made = await client.get(FILMS, headers={"X-Request-ID": "not a sane id"})
        missing = await client.get(f"{FILMS}/no-such-film")
        scrapes = [(await client.get("/metrics")).text for _ in range(4)]
    assert given.headers["x-request-id"] == "till-7.abc:42"
    assert made.headers["x-request-id"] not in {"", "not a sane id"}
    assert missing.status_code == 404
    for text in scrapes:  # whichever process answers the scrape sees both processes' counts
        requests = samples(text, "usher_http_requests_total")
        assert total(requests, path=FILMS, method="GET", status_code="200") == 42
        refusals = samples(text, "usher_refusals_total")
        assert total(refusals, route="/v1/films/{ref}", reason="not-found") == 1
        assert samples(text, "usher_http_request_duration_seconds_bucket")
        assert samples(text, "usher_db_pool_in_use")
        assert samples(text, "usher_db_pool_waiting")
    api.terminate()
    api.wait(timeout=15)
    lines = [json.loads(line) for line in processes.logs().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "till-7.abc:42"]
    assert mine, "no JSON log line carries the request id"
    assert mine[0]["logger"] == "usher.request"
    assert {"time", "level", "message"} <= mine[0].keys()


async def test_metrics_token_guards_the_scrape(settings: Settings, processes: Processes) -> None:
    port = free_port()
    processes.start(settings, "serve", "--port", str(port), USHER_METRICS_TOKEN="scrape-me")
    base = f"http://127.0.0.1:{port}"
    await wait_for_http(f"{base}/healthz")
    async with httpx.AsyncClient(base_url=base) as client:
        refused = await client.get("/metrics")
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert allowed.status_code == 200


async def test_relay_and_worker_metrics(
    settings: Settings, processes: Processes, db: asyncpg.Pool, screenings: list[UUID]
) -> None:
    relay_port, worker_port = free_port(), free_port()
    processes.start(settings, "relay", USHER_METRICS_PORT=str(relay_port))
    processes.start(settings, "worker", "--no-jobs", USHER_METRICS_PORT=str(worker_port))
    relay_url = f"http://127.0.0.1:{relay_port}/metrics"
    worker_url = f"http://127.0.0.1:{worker_port}/metrics"
    await wait_for_http(relay_url)
    await wait_for_http(worker_url)
    await write_events(db, screenings, 30)
    await wait_until(published(db))

    async def scraped(url: str, name: str, at_least: float, **labels: str) -> bool:
        async with httpx.AsyncClient() as client:
            text = (await client.get(url)).text
        return total(samples(text, name), **labels) >= at_least

    async def relay_counted() -> bool:
        return await scraped(
            relay_url, "usher_events_published_total", 30, type="screening.updated"
        )

    async def relay_leads() -> bool:
        return await scraped(relay_url, "usher_relay_leading", 1)

    async def backbone_measured() -> bool:
        return await scraped(relay_url, "usher_stream_consumers", 1)

    async def worker_handled() -> bool:
        return await scraped(worker_url, "usher_events_handled_total", 1)

    await wait_until(relay_counted, within=15)
    await wait_until(relay_leads, within=15)
    await wait_until(backbone_measured, within=15)
    await wait_until(worker_handled, within=15)
