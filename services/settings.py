"""One typed settings object, read from the environment once.

Every variable is listed in README.md's configuration table; tests set the environment before
they call `get_settings()` and clear the cache with `get_settings.cache_clear()`.
"""

from __future__ import annotations

import os
from functools import lru_cache

import msgspec


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str
    pool_min: int = 2
    pool_max: int = 20


class RedisSettings(msgspec.Struct, frozen=True):
    url: str
    prefix: str = "usher:"

    @property
    def events_stream(self) -> str:
        """The Redis Stream every domain event is published to, in order (docs/streams.md)."""
        return f"{self.prefix}events"


class AuthSettings(msgspec.Struct, frozen=True):
    secret: str
    token_minutes: int = 12 * 60


class BoxOfficeSettings(msgspec.Struct, frozen=True):
    hold_minutes: int = 10
    max_seats_per_hold: int = 10
    max_live_holds_per_client: int = 5
    max_extensions: int = 2
    max_hold_minutes: int = 30


class MailSettings(msgspec.Struct, frozen=True):
    """Outgoing mail (workers/emails, docs/emails.md): the SMTP server, and how sending retries."""

    host: str = "127.0.0.1"
    port: int = 1025
    username: str = ""
    password: str = ""
    security: str = "none"  # none | starttls | tls
    sender: str = "Usher Box Office <box-office@usher.invalid>"
    timeout_seconds: float = 30.0  # per SMTP command; a whole send is cut off at twice this
    max_attempts: int = 8  # temporary failures retried until this many attempts, then failed
    retry_seconds: float = 30.0  # the first backoff; it doubles per attempt ...
    retry_max_seconds: float = 3600.0  # ... up to this
    lease_seconds: float = 120.0  # a row `sending` this long: its worker died (keep > 2x timeout)
    reminder_hours: int = 24  # the reminder goes this long before a booked screening

    @property
    def sender_domain(self) -> str:
        """The domain of the sender's address: the right-hand side of every Message-ID."""
        address = self.sender.rpartition("<")[2].rstrip(">").strip()
        return address.rpartition("@")[2] or "usher.invalid"


class EventSettings(msgspec.Struct, frozen=True):
    """The event backbone: outbox relay, stream retention, consumer groups and arq jobs."""

    relay_batch_size: int = 500
    relay_poll_ms: int = 1000  # fallback when no NOTIFY arrives (LISTEN is the fast path)
    stream_retention_hours: int = 7 * 24  # XADD MINID: entries older than this are trimmed
    outbox_retention_hours: int = 3 * 24  # published outbox rows are deleted after this
    consumer_batch_size: int = 100
    consumer_block_ms: int = 5000  # XREADGROUP BLOCK; kept below the socket timeout
    claim_idle_ms: int = 60_000  # XAUTOCLAIM entries idle this long on any consumer
    max_deliveries: int = 5  # then the entry is dead-lettered and acknowledged
    lag_alert_seconds: int = 60  # `usher lag` exits 1 past this
    job_timeout_seconds: int = 60
    job_tries: int = 5


class Settings(msgspec.Struct, frozen=True):
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    box_office: BoxOfficeSettings
    mail: MailSettings
    events: EventSettings = EventSettings()
    public_url: str = "http://127.0.0.1:8000"
    data_dir: str = ".usher"
    debug: bool = False


DEV_SECRET = "usher-dev-secret-change-me-in-production"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"USHER_{name}", default)


def _float(name: str, default: float) -> float:
    raw = os.environ.get(f"USHER_{name}")
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"USHER_{name} must be a number, got {raw!r}") from exc


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _env(name, default)
    if value not in allowed:
        raise RuntimeError(f"USHER_{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _int(name: str, default: int) -> int:
    raw = os.environ.get(f"USHER_{name}")
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"USHER_{name} must be a whole number, got {raw!r}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings from the USHER_* environment variables (cached)."""
    return Settings(
        database=DatabaseSettings(
            url=_env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/usher"),
            pool_min=_int("DB_POOL_MIN", 2),
            pool_max=_int("DB_POOL_MAX", 20),
        ),
        redis=RedisSettings(
            url=_env("REDIS_URL", "redis://127.0.0.1:6379/0"),
            prefix=_env("REDIS_PREFIX", "usher:"),
        ),
        auth=AuthSettings(
            secret=_env("SECRET_KEY", DEV_SECRET),
            token_minutes=_int("TOKEN_MINUTES", 12 * 60),
        ),
        box_office=BoxOfficeSettings(
            hold_minutes=_int("HOLD_MINUTES", 10),
            max_seats_per_hold=_int("MAX_SEATS_PER_HOLD", 10),
            max_live_holds_per_client=_int("MAX_LIVE_HOLDS_PER_CLIENT", 5),
            max_extensions=_int("MAX_HOLD_EXTENSIONS", 2),
            max_hold_minutes=_int("MAX_HOLD_MINUTES", 30),
        ),
        mail=MailSettings(
            host=_env("SMTP_HOST", "127.0.0.1"),
            port=_int("SMTP_PORT", 1025),
            username=_env("SMTP_USERNAME", ""),
            password=_env("SMTP_PASSWORD", ""),
            security=_choice("SMTP_SECURITY", "none", ("none", "starttls", "tls")),
            sender=_env("MAIL_FROM", "Usher Box Office <box-office@usher.invalid>"),
            timeout_seconds=_float("SMTP_TIMEOUT_SECONDS", 30.0),
            max_attempts=_int("MAIL_MAX_ATTEMPTS", 8),
            retry_seconds=_float("MAIL_RETRY_SECONDS", 30.0),
            retry_max_seconds=_float("MAIL_RETRY_MAX_SECONDS", 3600.0),
            lease_seconds=_float("MAIL_LEASE_SECONDS", 120.0),
            reminder_hours=_int("REMINDER_HOURS", 24),
        ),
        events=EventSettings(
            relay_batch_size=_int("RELAY_BATCH_SIZE", 500),
            relay_poll_ms=_int("RELAY_POLL_MS", 1000),
            stream_retention_hours=_int("STREAM_RETENTION_HOURS", 7 * 24),
            outbox_retention_hours=_int("OUTBOX_RETENTION_HOURS", 3 * 24),
            consumer_batch_size=_int("CONSUMER_BATCH_SIZE", 100),
            consumer_block_ms=_int("CONSUMER_BLOCK_MS", 5000),
            claim_idle_ms=_int("CLAIM_IDLE_MS", 60_000),
            max_deliveries=_int("MAX_DELIVERIES", 5),
            lag_alert_seconds=_int("LAG_ALERT_SECONDS", 60),
            job_timeout_seconds=_int("JOB_TIMEOUT_SECONDS", 60),
            job_tries=_int("JOB_TRIES", 5),
        ),
        public_url=_env("PUBLIC_URL", "http://127.0.0.1:8000"),
        data_dir=_env("DATA_DIR", ".usher"),
        debug=_env("DEBUG", "") in {"1", "true", "yes"},
    )
