"""Settings read from the environment: the CORS origins."""

from __future__ import annotations

import pytest

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
