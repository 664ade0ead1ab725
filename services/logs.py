"""Logging for every Usher process: plain lines for people, or one JSON object per line for a
log pipeline (`USHER_LOG_FORMAT=json`), each carrying the ids of what it is about.

The ids travel in context variables, so they follow a request or a job through every await:
`request_id` (the API: taken from `X-Request-ID` or made), `event_id` (a consumer handling an
event) and `job_id` (an arq job). A log record picks up whichever are set.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import msgspec

request_id: ContextVar[str | None] = ContextVar("usher_request_id", default=None)
event_id: ContextVar[str | None] = ContextVar("usher_event_id", default=None)
job_id: ContextVar[str | None] = ContextVar("usher_job_id", default=None)

_CONTEXT = (("request_id", request_id), ("event_id", event_id), ("job_id", job_id))
_encoder = msgspec.json.Encoder()


class ContextFilter(logging.Filter):
    """Copies the ids of the current context onto each record (plain and JSON formats alike)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT:
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context ids
    that are set, any `extra` fields a caller passed, and the traceback as one string."""

    _STANDARD = frozenset(
        logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
        | {"message", "asctime", "request_id", "event_id", "job_id", "color_message"}
    )

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, _ in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


PLAIN = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure(log_format: str = "plain", level: int = logging.INFO) -> None:
    """Set up the root logger once per process; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(PLAIN))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True


def uvicorn_log_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's `log_config` for each of its worker processes: the same handler as `configure`,
    at `usher serve --log-level` (request lines are INFO)."""
    root_level = "DEBUG" if level.upper() == "TRACE" else level.upper()  # uvicorn's trace
    formatter: dict[str, Any] = (
        {"()": "services.logs.JsonFormatter"} if log_format == "json" else {"format": PLAIN}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "services.logs.ContextFilter"}},
        "formatters": {"usher": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "usher",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["stderr"], "level": root_level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }
