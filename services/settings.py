"""One typed settings object, read from the environment once.

Every variable is listed in README.md's configuration table; tests set the environment before
they call `get_settings()` and clear the cache with `get_settings.cache_clear()`.
"""

from __future__ import annotations

import hmac
from functools import lru_cache

import msgspec

from services._environment import (  # the readers of USHER_* variables
    _addresses,
    _choice,
    _default,
    _env,
    _flag,
    _float,
    _given,
    _int,
    _is_set,
    _items,
    _networks,
    _origins,
    _pairs,
    _rate,
    _seconds,
)


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str
    pool_min: int = 2
    pool_max: int = 20
    # False when USHER_DATABASE_URL is unset: `usher dev` then starts an embedded server.
    configured: bool = True
    # A read replica (a hot standby of `url`): anonymous programme reads go there when set.
    replica_url: str = ""


class RedisSettings(msgspec.Struct, frozen=True):
    url: str
    prefix: str = "usher:"
    # False when USHER_REDIS_URL is unset: `usher dev` then starts an embedded server.
    configured: bool = True
    # Redis Sentinel: (host, port) of each sentinel, and the name of the primary they watch
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "mymaster"

    @property
    def events_stream(self) -> str:
        """The Redis Stream every domain event is published to, in order (docs/streams.md)."""
        return f"{self.prefix}events"


class AuthSettings(msgspec.Struct, frozen=True):
    """The keys (docs/security.md): `secret` signs staff tokens; ticket codes are signed with a
    key of their own, USHER_TICKET_KEY or else one derived from `secret` for that purpose only,
    and still verified with each of `previous_ticket_keys` (a key rotation keeps the tickets
    already emailed)."""

    secret: str
    token_minutes: int = 12 * 60
    status_seconds: float = 30.0  # a deactivated or deleted account's tokens fail within this
    ticket_key: str = ""  # "": derived from `secret`
    previous_ticket_keys: tuple[str, ...] = ()

    @property
    def ticket_keys(self) -> tuple[str, ...]:
        """The key that signs ticket codes, then the earlier ones that still verify."""
        signing = self.ticket_key or hmac.new(self.secret.encode(), _TICKETS, "sha256").hexdigest()
        return (signing, *self.previous_ticket_keys)


class BoxOfficeSettings(msgspec.Struct, frozen=True):
    max_seats_per_hold: int = 10
    max_live_holds_per_client: int = 5
    max_held_seats_per_screening: int = 20  # per client, in all its live holds of a screening
    max_extensions: int = 2
    max_hold_minutes: int = 30


class AccessSettings(msgspec.Struct, frozen=True):
    """Access devices (docs/access.md): how long a reserved unit is kept, and the deadlines."""

    pickup_lead_minutes: int = 30  # a unit is set aside from this long before the start
    turnaround_minutes: int = 30  # and after the end, for its return, cleaning and charging
    no_show_minutes: int = 20  # after the start, a device never collected is released
    overdue_minutes: int = 30  # after the end, a device not returned is flagged to staff
    max_reservations_per_client: int = 4  # live reservations per client per screening


class DoorSettings(msgspec.Struct, frozen=True):
    """The door (docs/door.md): the Ed25519 keys that sign ticket codes, as `id:seed` pairs
    (id 1-255, the seed 32 bytes in base64url). The first key signs new codes; every key listed
    verifies, so a retired key stays listed until the codes it signed have been used."""

    signing_keys: tuple[str, ...] = ()


class PaymentSettings(msgspec.Struct, frozen=True):
    """Payment providers (docs/money.md): each one's name, as in its callback's path
    /v1/payments/callbacks/{name}, and the secret its callbacks are signed with."""

    providers: tuple[tuple[str, str], ...] = ()

    @property
    def secrets(self) -> dict[str, str]:
        return dict(self.providers)


class LimitSettings(msgspec.Struct, frozen=True):
    """Who a caller is and how often it may act (services/callers.py, docs/security.md).

    `trusted_proxies`: the networks of the reverse proxies in front of the API; X-Forwarded-For
    is read only from a peer in them (none by default: the peer's own address counts). Rates
    are `limits` strings (`30/minute`, `10 per 15 minutes`), per caller address unless named
    per account; callers with a staff token are exempt from the per-address ones."""

    trusted_proxies: tuple[str, ...] = ()
    holds: str = "30/minute"
    device_reservations: str = "10/minute"
    sign_in_per_address: str = "20/minute"
    sign_in_per_account: str = "10 per 15 minutes"


class MailSettings(msgspec.Struct, frozen=True):
    """Outgoing mail (workers/emails, docs/emails.md): the SMTP server, and how sending retries."""

    host: str = "127.0.0.1"
    port: int = 1025
    username: str = ""
    password: str = ""
    security: str = "none"  # none | starttls | tls
    ca_file: str = ""  # PEM file of the CAs to trust for TLS instead of the system's; "" system's
    sender: str = "Usher Box Office <box-office@usher.invalid>"
    timeout_seconds: float = 30.0  # per SMTP command; a whole send is cut off at twice this
    max_attempts: int = 8  # temporary failures retried until this many attempts, then failed
    retry_seconds: float = 30.0  # the first backoff; it doubles per attempt ...
    retry_max_seconds: float = 3600.0  # ... up to this
    lease_seconds: float = 120.0  # a row `sending` this long: its worker died (keep > 2x timeout)
    reminder_hours: int = 24  # reminders (bookings, device pick-ups) go this long before

    @property
    def sender_domain(self) -> str:
        """The domain of the sender's address: the right-hand side of every Message-ID."""
        address = self.sender.rpartition("<")[2].rstrip(">").strip()
        return address.rpartition("@")[2] or "usher.invalid"


class EventSettings(msgspec.Struct, frozen=True):
    """The event backbone: outbox relay, stream retention, consumer groups and arq jobs."""

    relay_batch_size: int = 500
    relay_poll_ms: int = 1000  # fallback when no NOTIFY arrives (LISTEN is the fast path)
    relay_busy_rate: int = 200  # events/s from which the relay polls instead of NOTIFY
    relay_busy_poll_ms: int = 10  # the poll then: longer makes fuller batches, later events
    stream_retention_hours: int = 7 * 24  # XADD MINID: entries older than this are trimmed
    outbox_retention_hours: int = 3 * 24  # published outbox rows are deleted after this
    consumer_batch_size: int = 100
    consumer_block_ms: int = 5000  # XREADGROUP BLOCK; kept below the socket timeout
    claim_idle_ms: int = 60_000  # XAUTOCLAIM entries idle this long on any consumer
    max_deliveries: int = 5  # then the entry is dead-lettered and acknowledged
    lag_alert_seconds: int = 60  # `usher lag` exits 1 past this
    job_timeout_seconds: int = 60
    job_tries: int = 5
    # `usher worker` on SIGTERM: stop taking work, and let what it holds finish for this long
    # (an email being sent is finished, not cancelled); keep the deployment's grace above it
    worker_grace_seconds: int = 50
    # a file the worker and the relay touch every HEARTBEAT_SECONDS while their loop runs
    # (`usher alive` reads it: a liveness probe that asks nothing of PostgreSQL or Redis); ""
    # writes none
    health_file: str = ""


class Settings(msgspec.Struct, frozen=True):
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    box_office: BoxOfficeSettings
    mail: MailSettings
    events: EventSettings = EventSettings()
    host: str = "127.0.0.1"
    port: int = 8000
    # `usher serve`: on SIGTERM, responses still open after this long are cancelled (uvicorn's
    # timeout_graceful_shutdown); live feeds end at once by themselves
    shutdown_grace_seconds: int = 5
    # origins whose pages may call the API from the browser (CORS); ("*",): any
    cors_origins: tuple[str, ...] = ("*",)
    access: AccessSettings = AccessSettings()
    door: DoorSettings = DoorSettings()
    payments: PaymentSettings = PaymentSettings()
    limits: LimitSettings = LimitSettings()
    public_url: str = "http://127.0.0.1:8000"
    data_dir: str = ".usher"
    debug: bool = False
    # logs: "plain" lines or one JSON object per line ("json")
    log_format: str = "plain"
    # the API's /metrics asks for this bearer token when set; workers and relays serve their
    # metrics on this port when it is not 0
    metrics_token: str = ""
    metrics_port: int = 0
    # OpenTelemetry traces over OTLP/HTTP to this collector (e.g. http://otel-collector:4318)
    otlp_endpoint: str = ""

    @property
    def local_url(self) -> str:
        """The API's address as seen from this machine (the public URL may be a proxy's)."""
        return _local_url(self.host, self.port)


DEV_SECRET = "usher-dev-secret-change-me-in-production"  # refused by serve, worker and relay
MIN_KEY_BYTES = 32
_TICKETS = b"usher ticket codes v1"  # the purpose label of the derived ticket key
_NEW_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def key_problem(auth: AuthSettings, payments: PaymentSettings | None = None) -> str | None:
    """Why these keys must not run the API, a worker or the relay (one line), or None: unset
    or empty, the development value, shorter than MIN_KEY_BYTES, or a ticket key that is the
    staff-token key itself; a payment provider's secret shorter than MIN_KEY_BYTES too."""
    for provider, secret in payments.providers if payments else ():
        if len(secret.encode()) < MIN_KEY_BYTES:
            return (
                f"USHER_PAYMENT_PROVIDERS: the secret of {provider} is {len(secret.encode())}"
                f" bytes; it needs at least {MIN_KEY_BYTES}"
            )
    named = [("USHER_SECRET_KEY", auth.secret)]
    if auth.ticket_key:
        named.append(("USHER_TICKET_KEY", auth.ticket_key))
    named += [("USHER_PREVIOUS_TICKET_KEYS", key) for key in auth.previous_ticket_keys]
    for name, key in named:
        if not key:
            return f"{name} is not set; set it to a random value, e.g. the output of `{_NEW_KEY}`"
        if key == DEV_SECRET:
            return f"{name} is the development key written in the source; set a random one"
        if len(key.encode()) < MIN_KEY_BYTES:
            return (
                f"{name} is {len(key.encode())} bytes; it needs at least {MIN_KEY_BYTES}"
                f" (e.g. the output of `{_NEW_KEY}`)"
            )
    if auth.ticket_key == auth.secret:
        return "USHER_TICKET_KEY must differ from USHER_SECRET_KEY (tickets get a key of their own)"
    return None


def _local_url(host: str, port: int) -> str:
    """Where a client on this machine reaches an API bound to host:port."""
    if host in {"0.0.0.0", "::", ""}:
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings from the USHER_* environment variables (cached). An unset or empty
    variable leaves the Struct's default: each default is written once, in the Structs above."""
    host = _env("HOST") or _default(Settings, "host")
    port = _int("PORT", least=0, most=65535) or _default(Settings, "port")
    status_seconds = _float("STAFF_STATUS_SECONDS")
    settings = Settings(
        database=DatabaseSettings(
            url=_env("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/usher",
            configured=_is_set("DATABASE_URL"),
            **_given(
                pool_min=_int("DB_POOL_MIN", least=0),
                pool_max=_int("DB_POOL_MAX", least=1),
                replica_url=_env("DATABASE_REPLICA_URL"),
            ),
        ),
        redis=RedisSettings(
            url=_env("REDIS_URL") or "redis://127.0.0.1:6379/0",
            configured=_is_set("REDIS_URL"),
            **_given(
                prefix=_env("REDIS_PREFIX"),
                sentinels=_addresses("REDIS_SENTINELS"),
                sentinel_master=_env("REDIS_SENTINEL_MASTER"),
            ),
        ),
        auth=AuthSettings(
            secret=_env("SECRET_KEY") or "",  # required by serve, worker and relay (key_problem)
            **_given(
                token_minutes=_int("TOKEN_MINUTES", least=1),
                # at most a minute: deactivating an account takes effect within it
                status_seconds=None if status_seconds is None else min(status_seconds, 60.0),
                ticket_key=_env("TICKET_KEY"),
                previous_ticket_keys=_items("PREVIOUS_TICKET_KEYS"),
            ),
        ),
        box_office=BoxOfficeSettings(
            **_given(
                max_seats_per_hold=_int("MAX_SEATS_PER_HOLD", least=1),
                max_live_holds_per_client=_int("MAX_LIVE_HOLDS_PER_CLIENT", least=1),
                max_held_seats_per_screening=_int("MAX_HELD_SEATS_PER_SCREENING", least=1),
                max_extensions=_int("MAX_HOLD_EXTENSIONS", least=0),
                max_hold_minutes=_int("MAX_HOLD_MINUTES", least=1),
            )
        ),
        mail=MailSettings(
            **_given(
                host=_env("SMTP_HOST"),
                port=_int("SMTP_PORT", least=1, most=65535),
                username=_env("SMTP_USERNAME"),
                password=_env("SMTP_PASSWORD"),
                security=_choice("SMTP_SECURITY", ("none", "starttls", "tls")),
                ca_file=_env("SMTP_CA_FILE"),
                sender=_env("MAIL_FROM"),
                timeout_seconds=_float("SMTP_TIMEOUT_SECONDS", above=0),
                max_attempts=_int("MAIL_MAX_ATTEMPTS", least=1),
                retry_seconds=_float("MAIL_RETRY_SECONDS", above=0),
                retry_max_seconds=_float("MAIL_RETRY_MAX_SECONDS", above=0),
                lease_seconds=_float("MAIL_LEASE_SECONDS", above=0),
                reminder_hours=_int("REMINDER_HOURS", least=0),
            )
        ),
        events=EventSettings(
            **_given(
                relay_batch_size=_int("RELAY_BATCH_SIZE", least=1),
                relay_poll_ms=_int("RELAY_POLL_MS", least=1),
                relay_busy_rate=_int("RELAY_BUSY_RATE", least=0),
                relay_busy_poll_ms=_int("RELAY_BUSY_POLL_MS", least=1),
                stream_retention_hours=_int("STREAM_RETENTION_HOURS", least=1),
                outbox_retention_hours=_int("OUTBOX_RETENTION_HOURS", least=0),
                consumer_batch_size=_int("CONSUMER_BATCH_SIZE", least=1),
                consumer_block_ms=_int("CONSUMER_BLOCK_MS", least=1),
                claim_idle_ms=_int("CLAIM_IDLE_MS", least=1),
                max_deliveries=_int("MAX_DELIVERIES", least=1),
                lag_alert_seconds=_int("LAG_ALERT_SECONDS", least=1),
                job_timeout_seconds=_int("JOB_TIMEOUT_SECONDS", least=1),
                job_tries=_int("JOB_TRIES", least=1),
                worker_grace_seconds=_seconds("WORKER_GRACE_SECONDS"),
                health_file=_env("HEALTH_FILE"),
            )
        ),
        access=AccessSettings(
            **_given(
                pickup_lead_minutes=_int("DEVICE_PICKUP_LEAD_MINUTES", least=0),
                turnaround_minutes=_int("DEVICE_TURNAROUND_MINUTES", least=0),
                no_show_minutes=_int("DEVICE_NO_SHOW_MINUTES", least=0),
                overdue_minutes=_int("DEVICE_OVERDUE_MINUTES", least=0),
                max_reservations_per_client=_int("MAX_DEVICE_RESERVATIONS_PER_CLIENT", least=1),
            )
        ),
        door=DoorSettings(**_given(signing_keys=_items("DOOR_SIGNING_KEYS"))),
        payments=PaymentSettings(**_given(providers=_pairs("PAYMENT_PROVIDERS"))),
        limits=LimitSettings(
            **_given(
                trusted_proxies=_networks("TRUSTED_PROXIES"),
                holds=_rate("RATE_HOLDS"),
                device_reservations=_rate("RATE_DEVICE_RESERVATIONS"),
                sign_in_per_address=_rate("RATE_SIGN_IN_PER_ADDRESS"),
                sign_in_per_account=_rate("RATE_SIGN_IN_PER_ACCOUNT"),
            )
        ),
        host=host,
        port=port,
        public_url=_env("PUBLIC_URL") or _local_url(host, port),
        **_given(
            shutdown_grace_seconds=_seconds("SHUTDOWN_GRACE_SECONDS"),
            cors_origins=_origins("CORS_ORIGINS"),
            data_dir=_env("DATA_DIR"),
            debug=_flag("DEBUG"),
            log_format=_choice("LOG_FORMAT", ("plain", "json")),
            metrics_token=_env("METRICS_TOKEN"),
            metrics_port=_int("METRICS_PORT", least=1, most=65535),
            otlp_endpoint=_env("OTLP_ENDPOINT"),
        ),
    )
    pool = settings.database
    if pool.pool_min > pool.pool_max:
        raise RuntimeError(
            f"USHER_DB_POOL_MIN ({pool.pool_min}) must not be above USHER_DB_POOL_MAX"
            f" ({pool.pool_max})"
        )
    return settings
