"""Settings read from the environment: the CORS origins, the trusted proxies and the rates;
and the caller's address as the limits count it."""

from __future__ import annotations

import pytest

from services.callers import address_of
from services.settings import get_settings


@pytest.fixture
def read(monkeypatch):
    def read(value: str | None):
        if value is None:
            monkeypatch.delenv("USHER_CORS_ORIGINS", raising=False)
        else:
            monkeypatch.setenv("USHER_CORS_ORIGINS", value)
        get_settings.cache_clear()
        try:
            return get_settings().cors_origins
        finally:
            get_settings.cache_clear()

    return read


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (None, ("*",)),
        ("", ("*",)),
        (" * ", ("*",)),
        ("https://cinema.example", ("https://cinema.example",)),
        (
            "https://Cinema.example, http://localhost:3000,,https://*.festival.example",
            ("https://cinema.example", "http://localhost:3000", "https://*.festival.example"),
        ),
        ("http://127.0.0.1:8080,http://[::1]:8080", ("http://127.0.0.1:8080", "http://[::1]:8080")),
    ],
)
def test_cors_origins_are_a_comma_separated_list_or_any(read, value, origins):
    assert read(value) == origins


@pytest.mark.parametrize(
    "value",
    [
        "https://cinema.example/",  # a trailing slash never matches an Origin header
        "https://cinema.example/tickets",
        "cinema.example",
        "ftp://cinema.example",
        "*, https://cinema.example",
        "https://cinema.example:port",
    ],
)
def test_a_value_that_would_never_match_is_refused_at_start_up(read, value):
    with pytest.raises(RuntimeError, match="USHER_CORS_ORIGINS"):
        read(value)


def _limits(monkeypatch, **env: str):
    for name, value in env.items():
        monkeypatch.setenv(f"USHER_{name}", value)
    get_settings.cache_clear()
    try:
        return get_settings().limits
    finally:
        get_settings.cache_clear()


def test_trusted_proxies_are_networks_and_none_by_default(monkeypatch):
    monkeypatch.delenv("USHER_TRUSTED_PROXIES", raising=False)
    assert _limits(monkeypatch).trusted_proxies == ()
    assert _limits(monkeypatch, TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1,::1").trusted_proxies == (
        "10.0.0.0/8",
        "127.0.0.1/32",
        "::1/128",
    )
    with pytest.raises(RuntimeError, match="USHER_TRUSTED_PROXIES"):
        _limits(monkeypatch, TRUSTED_PROXIES="proxy.internal")


def test_rates_are_checked_at_start_up(monkeypatch):
    assert _limits(monkeypatch, RATE_HOLDS="10 per 15 minutes").holds == "10 per 15 minutes"
    with pytest.raises(RuntimeError, match="USHER_RATE_SIGN_IN_PER_ACCOUNT"):
        _limits(monkeypatch, RATE_SIGN_IN_PER_ACCOUNT="often")


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "ip:203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "ip:2001:db8:1:2::/64"),  # the same subscriber
        ("::ffff:203.0.113.7", "ip:203.0.113.7"),
        (None, "ip:unknown"),
    ],
)
def test_a_caller_is_its_address_and_an_ipv6_caller_its_64(host, key):
    assert address_of(host) == key


def test_an_unset_environment_gives_every_structs_own_default(monkeypatch):
    """Each default is written once, in its Struct: with no USHER_* variable set, the settings
    read from the environment are the Structs' defaults (bar the values no Struct defaults)."""
    import os

    import msgspec

    from services import settings as module

    for name in [n for n in os.environ if n.startswith("USHER_")]:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    try:
        read = get_settings()
    finally:
        get_settings.cache_clear()

    def defaults(struct: type[msgspec.Struct]) -> dict[str, object]:
        return {
            f.name: f.default
            for f in msgspec.structs.fields(struct)
            if f.default is not msgspec.NODEFAULT
        }

    for name in ("box_office", "mail", "events", "access", "door", "limits"):
        part = getattr(read, name)
        assert msgspec.structs.asdict(part) == defaults(type(part)), name
    top = defaults(module.Settings)
    for name in ("host", "port", "shutdown_grace_seconds", "cors_origins", "data_dir", "debug"):
        assert getattr(read, name) == top[name], name
    assert read.database.pool_min == defaults(module.DatabaseSettings)["pool_min"]
    assert read.auth.token_minutes == defaults(module.AuthSettings)["token_minutes"]


def _payments(monkeypatch, value: str | None):
    if value is None:
        monkeypatch.delenv("USHER_PAYMENT_PROVIDERS", raising=False)
    else:
        monkeypatch.setenv("USHER_PAYMENT_PROVIDERS", value)
    get_settings.cache_clear()
    try:
        return get_settings().payments
    finally:
        get_settings.cache_clear()


def test_payment_providers_are_name_secret_pairs_and_none_by_default(monkeypatch):
    assert _payments(monkeypatch, None).secrets == {}
    read = _payments(monkeypatch, " stripe = sk_1=x , shop-2=abc ")
    assert read.secrets == {"stripe": "sk_1=x", "shop-2": "abc"}  # a secret may hold "="
    for bad in ("stripe", "=x", "a b=x", "stripe=x,stripe=y", "stripe="):
        with pytest.raises(RuntimeError, match="USHER_PAYMENT_PROVIDERS"):
            _payments(monkeypatch, bad)


def _settings(monkeypatch, **values: str):
    for name, value in values.items():
        monkeypatch.setenv(f"USHER_{name}", value)
    get_settings.cache_clear()
    try:
        return get_settings()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RELAY_BATCH_SIZE", "0", "must be 1 or more, got 0"),  # the relay would publish nothing
        ("RELAY_POLL_MS", "-5", "must be 1 or more, got -5"),
        ("CONSUMER_BATCH_SIZE", "0", "must be 1 or more"),
        ("MAX_DELIVERIES", "0", "must be 1 or more"),
        ("MAX_SEATS_PER_HOLD", "0", "must be 1 or more"),
        ("MAX_HOLD_EXTENSIONS", "-1", "must be 0 or more"),
        ("SMTP_PORT", "70000", "must be 65535 or less"),
        ("MAIL_MAX_ATTEMPTS", "0", "must be 1 or more"),
        ("SMTP_TIMEOUT_SECONDS", "0", "must be above 0"),
        ("MAIL_RETRY_SECONDS", "nan", "must be a finite number"),
        ("WORKER_GRACE_SECONDS", "-1", "must be 0 or more"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_at_start_up(monkeypatch, name, value, says):
    with pytest.raises(RuntimeError, match=f"USHER_{name} {says}"):
        _settings(monkeypatch, **{name: value})


def test_the_edges_of_the_ranges_are_taken(monkeypatch):
    settings = _settings(
        monkeypatch,
        RELAY_BATCH_SIZE="1",
        MAX_HOLD_EXTENSIONS="0",
        SMTP_PORT="65535",
        MAIL_RETRY_SECONDS="0.05",
        DB_POOL_MIN="3",
        DB_POOL_MAX="3",
    )
    assert settings.events.relay_batch_size == 1
    assert settings.box_office.max_extensions == 0
    assert settings.mail.port == 65535
    assert settings.mail.retry_seconds == 0.05
    assert (settings.database.pool_min, settings.database.pool_max) == (3, 3)


def test_a_pool_whose_least_is_above_its_most_is_refused(monkeypatch):
    with pytest.raises(RuntimeError, match=r"USHER_DB_POOL_MIN \(5\) must not be above"):
        _settings(monkeypatch, DB_POOL_MIN="5", DB_POOL_MAX="2")
