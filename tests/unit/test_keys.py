"""No default secret in production: serve, worker and relay refuse a missing, empty, short or
development key with one line (docs/security.md, "Keys and their rotation")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import DEV_SECRET, AuthSettings, PaymentSettings, key_problem

ROOT = Path(__file__).resolve().parents[2]
GOOD = "a-random-key-of-forty-bytes-0123456789ab"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _run(command: str, key: str | None, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHER_")}
    # nothing listens there: a command that started anyway would fail, not hang
    closed = _free_port()
    env |= {
        "PYTHONPATH": str(ROOT),
        "USHER_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/none",
        "USHER_REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "USHER_PORT": str(_free_port()),
        **{f"USHER_{k}": v for k, v in extra.items()},
    }
    if key is not None:
        env["USHER_SECRET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "services.cli", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


UNSET = (None, "USHER_SECRET_KEY is not set")
EMPTY = ("", "USHER_SECRET_KEY is not set")
DEVELOPMENT = (DEV_SECRET, "USHER_SECRET_KEY is the development key")
SHORT = ("short-key-0123456789", "USHER_SECRET_KEY is 20 bytes; it needs at least 32")
CASES = [("serve", *case) for case in (UNSET, EMPTY, DEVELOPMENT, SHORT)]
CASES += [(command, *case) for command in ("worker", "relay") for case in (UNSET, DEVELOPMENT)]


@pytest.mark.parametrize(("command", "key", "says"), CASES)
def test_serve_worker_and_relay_refuse_a_default_key(
    command: str, key: str | None, says: str
) -> None:
    done = _run(command, key)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"usher: {says}"), done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback


def test_a_ticket_key_must_be_a_key_of_its_own() -> None:
    done = _run("serve", GOOD, TICKET_KEY=GOOD)
    assert done.returncode == 2
    assert done.stderr == "usher: USHER_TICKET_KEY must differ from USHER_SECRET_KEY" + (
        " (tickets get a key of their own)\n"
    )
    assert key_problem(AuthSettings(GOOD, previous_ticket_keys=("old",))) == (
        "USHER_PREVIOUS_TICKET_KEYS is 3 bytes; it needs at least 32"
        " (e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
    )


def test_a_random_key_of_32_bytes_is_fine() -> None:
    assert key_problem(AuthSettings("k" * 32)) is None
    assert key_problem(AuthSettings("k" * 31)) is not None
    assert not key_problem(
        AuthSettings(GOOD, ticket_key="t" * 40, previous_ticket_keys=("p" * 32,))
    )
    assert key_problem(AuthSettings(GOOD, ticket_key="t" * 40)) is None


def test_a_short_payment_provider_secret_stops_serve_worker_and_relay() -> None:
    for command in ("serve", "worker"):
        done = _run(command, GOOD, PAYMENT_PROVIDERS=f"stripe={'s' * 40},shop=short")
        assert done.returncode == 2, done.stderr
        assert done.stderr == (
            "usher: USHER_PAYMENT_PROVIDERS: the secret of shop is 5 bytes; it needs at least 32\n"
        )
    good = PaymentSettings(providers=(("stripe", "s" * 32),))
    assert key_problem(AuthSettings(GOOD), good) is None
