"""One trace from a patron's request to the email it caused: the API request and its SQL, the
relay's publish, the consumer group's handling and the SMTP send, all under the request's
trace id, carried across the stream in the event's envelope. Read from an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services import tracing
from services.app import create_app
from services.settings import Settings
from tests.integration.box_office.helpers import confirm_body, hold, token_of
from tests.integration.emails.conftest import Mailbox, Pipeline, screening_in, settle


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    tracing.start("usher-test", SimpleSpanProcessor(found))
    yield found
    tracing.stop()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_booking_and_its_email_form_one_trace(
    demo: asyncpg.Pool,
    settings: Settings,
    pipeline: Pipeline,
    mailbox: Mailbox,
    exporter: InMemorySpanExporter,
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    async with AsyncTestClient(app=create_app(settings)) as client:
        held = await hold(client, screening_id, {"seats": ["B3"]}, client_id="traced")
        assert held.status_code == 201, held.text
        confirmed = await client.post(
            f"/v1/holds/{held.json()['id']}/confirm",
            json=confirm_body(["B3"]),
            headers={**token_of(held), "Idempotency-Key": "traced-order-1"},
        )
        assert confirmed.status_code == 201, confirmed.text
    async with pipeline.running():
        await settle(demo, 1)
    assert len(mailbox.messages()) == 1

    spans = exporter.get_finished_spans()
    (request,) = [
        s
        for s in spans
        if s.kind == SpanKind.SERVER and "confirm" in str((s.attributes or {}).get("http.route"))
    ]
    trace_id = request.context.trace_id
    traced = [s for s in spans if s.context.trace_id == trace_id]
    by_name = {s.name: s for s in traced}
    sql = [s for s in traced if (s.attributes or {}).get("db.system") == "postgresql"]
    assert sql, "the request's SQL is not in its trace"
    publish = by_name["publish booking.confirmed"]
    consume = [s for s in traced if s.name == "consume booking.confirmed"]
    send = [s for s in traced if s.name.startswith("send email")]
    assert consume, sorted(by_name)
    assert send, sorted(by_name)
    # the relay and the consumer continue the request's trace: children of a span inside it
    inside = {s.context.span_id for s in traced}
    assert parent_of(publish) in inside
    assert all(parent_of(s) in inside for s in consume + send)
    # the consumer's own SQL (the effect and its dedupe row) hangs under the consumer's span
    assert any(parent_of(s) == consume[0].context.span_id for s in sql)


async def test_no_span_and_no_traceparent_while_tracing_is_off(
    demo: asyncpg.Pool, settings: Settings
) -> None:
    assert not tracing.enabled()
    screening_id = await screening_in(demo, "cinema-2")
    async with AsyncTestClient(app=create_app(settings)) as client:
        held = await hold(client, screening_id, {"seats": ["B4"]}, client_id="untraced")
        assert held.status_code == 201, held.text
    payloads = await demo.fetch("SELECT payload FROM outbox WHERE event_type = 'hold.seats_held'")
    assert payloads
    assert all("traceparent" not in str(row["payload"]) for row in payloads)
