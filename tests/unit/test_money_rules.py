"""The pure rules of money: the callback's signature, the checkout window, a payment's fate,
what is owed and what may be refunded."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import Conflict, NotAuthenticated
from services.money import rules

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
SECRET = "s" * 40
PROVIDERS = {"pay": SECRET}


def test_the_signature_is_hmac_sha256_over_the_timestamp_dot_body() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(SECRET.encode(), b"1765015200." + body, hashlib.sha256).hexdigest()
    assert rules.signature_header(SECRET, 1765015200, body) == f"t=1765015200,v1={expected}"


@pytest.mark.parametrize(
    ("provider", "shift", "tamper", "reason"),
    [
        ("nope", 0, False, "unknown provider"),
        ("pay", 301, False, "timestamp"),
        ("pay", -301, False, "timestamp"),
        ("pay", 0, True, "signature"),
    ],
)
def test_refusals_name_why(provider: str, shift: int, tamper: bool, reason: str) -> None:
    body = b"{}"
    stamp = int(NOW.timestamp()) + shift
    header = rules.signature_header(SECRET, stamp, body)
    with pytest.raises(NotAuthenticated) as refused:
        rules.verify_signature(PROVIDERS, provider, header, body + (b" " if tamper else b""), NOW)
    assert refused.value.extra["errors"][0]["reason"] == reason


@pytest.mark.parametrize("header", [None, "", "t=1", "v1=ab", "t=x,v1=ab", "t=1;v1=ab"])
def test_a_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(NotAuthenticated):
        rules.verify_signature(PROVIDERS, "pay", header, b"{}", NOW)


def test_within_the_tolerance_and_with_a_rotated_secret_it_passes() -> None:
    stamp = int(NOW.timestamp()) - 300
    good = rules.sign(SECRET, stamp, b"{}")
    rules.verify_signature(PROVIDERS, "pay", f"t={stamp},v1={'0' * 64},v1={good}", b"{}", NOW)


@given(
    left=st.integers(1, 120),  # minutes the hold had left
    window=st.integers(1, 120),
    extra=st.integers(0, 60),
)
def test_the_checkout_window_never_passes_latest_expiry_plus_the_window(
    left: int, window: int, extra: int
) -> None:
    latest = NOW + timedelta(minutes=left + extra)
    expires = rules.checkout_expiry(NOW, latest, window)
    assert expires <= NOW + timedelta(minutes=window)
    assert expires <= latest + timedelta(minutes=window)
    assert expires > NOW


def test_a_payments_fate() -> None:
    fate = rules.payment_fate
    assert fate(booked=False, already_recorded=True, right_amount=True, hold_live=True) == "ignore"
    assert (
        fate(booked=True, already_recorded=False, right_amount=False, hold_live=False) == "record"
    )
    assert (
        fate(booked=False, already_recorded=False, right_amount=False, hold_live=True) == "unseated"
    )
    assert fate(booked=False, already_recorded=False, right_amount=True, hold_live=True) == "book"
    assert (
        fate(booked=False, already_recorded=False, right_amount=True, hold_live=False) == "reclaim"
    )


@given(
    status=st.sampled_from(["confirmed", "cancelled", "unseated"]),
    refund_due=st.booleans(),
    total=st.integers(0, 10_000),
    paid=st.integers(0, 20_000),
    data=st.data(),
)
def test_what_is_owed_is_never_more_than_what_is_left(
    status: str, refund_due: bool, total: int, paid: int, data: st.DataObject
) -> None:
    refunded = data.draw(st.integers(0, paid))
    owed = rules.refund_owed(status, refund_due, total, paid, refunded)
    assert 0 <= owed <= paid - refunded
    if status == "unseated":
        assert owed == paid - refunded


@given(paid=st.integers(0, 10_000), data=st.data())
def test_a_refund_passes_only_within_what_is_left(paid: int, data: st.DataObject) -> None:
    refunded = data.draw(st.integers(0, paid))
    amount = data.draw(st.integers(1, 20_000))
    if amount <= paid - refunded:
        rules.check_refund(amount, paid, refunded, refunded)
    else:
        with pytest.raises(Conflict):
            rules.check_refund(amount, paid, refunded, refunded)
    with pytest.raises(Conflict):
        rules.check_refund(1, paid, refunded, refunded + 1)  # a stale page
