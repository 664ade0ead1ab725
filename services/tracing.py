"""OpenTelemetry traces, off unless `USHER_OTLP_ENDPOINT` is set (then exported over OTLP/HTTP).

One trace follows a change end to end: the API request and the SQL it ran, the outbox row, the
relay's XADD, the consumer group that handled the event, and the email sent for it. The trace
context crosses the stream in the event's envelope (`traceparent`, W3C Trace Context, see
schemas/event_base.py) and reaches the email through the email row.

While tracing is off nothing here does any work: `enabled()` is False, no span is made and no
`traceparent` is written, so the hold path pays nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("usher.tracing")
_PROPAGATOR = TraceContextTextMapPropagator()
_state: dict[str, TracerProvider | None] = {"provider": None}


def configure(service: str, endpoint: str) -> bool:
    """Turn tracing on for this process when `endpoint` (an OTLP/HTTP URL) is set."""
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    start(service, BatchSpanProcessor(exporter))
    log.info("traces go to %s", endpoint)
    return True


def start(service: str, processor: SpanProcessor) -> TracerProvider:
    """Tracing on with this span processor (tests pass an in-memory exporter's)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    _state["provider"] = provider
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return provider


def stop() -> None:
    """Tracing off again (tests); spans already ended are flushed."""
    provider = _state["provider"]
    _state["provider"] = None
    if provider is not None:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        provider.shutdown()


def enabled() -> bool:
    return _state["provider"] is not None


def tracer() -> trace.Tracer:
    provider = _state["provider"]
    return (provider or trace.get_tracer_provider()).get_tracer("usher")


class _Envelope(msgspec.Struct):
    traceparent: str | None = None


def carried(raw: bytes | str | None) -> str | None:
    """The `traceparent` in an event's JSON envelope, when tracing is on and it has one."""
    if raw is None or not enabled():
        return None
    try:
        return msgspec.json.decode(raw, type=_Envelope).traceparent
    except msgspec.DecodeError:
        return None


def traceparent() -> str | None:
    """The current span's context as a W3C `traceparent` header value, or None."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(name: str, parent: str | None, **attributes: Any) -> Iterator[None]:
    """A span named `name`, child of the `traceparent` given (or of the current span); nothing
    at all while tracing is off."""
    if not enabled():
        yield
        return
    context = _PROPAGATOR.extract({"traceparent": parent}) if parent else None
    with tracer().start_as_current_span(name, context=context, attributes=attributes):
        yield


def asgi_middleware() -> Any:
    """Litestar's OpenTelemetry middleware on this process's provider (the request's span)."""
    from litestar.plugins.opentelemetry import OpenTelemetryConfig

    provider = _state["provider"]
    return OpenTelemetryConfig(tracer_provider=provider, exclude=["^/metrics$"]).middleware
