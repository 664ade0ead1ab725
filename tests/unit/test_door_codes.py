"""The door's signed codes, pure: what a scanner verifies with public keys alone."""

from __future__ import annotations

import base64
import uuid

import segno
from hypothesis import given
from hypothesis import strategies as st

from services.door import codes, rules

OLD, NEW = codes.new_key_entry(1), codes.new_key_entry(2)


@given(booking=st.uuids(), ticket=st.integers(0, 255))
def test_a_signed_code_reads_back_as_its_booking_and_ticket(booking, ticket) -> None:
    keys = codes.keyring((NEW, OLD))
    code = codes.sign(keys, booking, ticket)
    assert code is not None
    assert codes.read(keys, code) == codes.SignedCode(2, booking, ticket)
    assert codes.read(keys, code.lower()) == codes.SignedCode(2, booking, ticket)  # typed


def test_any_changed_bit_or_unknown_key_is_forged() -> None:
    keys = codes.keyring((NEW,))
    code = codes.sign(keys, uuid.uuid4(), 1)
    assert code is not None
    raw = base64.b32decode(code[len(codes.PREFIX) :] + "=" * 3)
    for index in (2, 18, 40, 82):  # the booking, the ticket number, the signature
        changed = bytearray(raw)
        changed[index] ^= 0x10
        text = codes.PREFIX + base64.b32encode(bytes(changed)).decode().rstrip("=")
        assert isinstance(codes.read(keys, text), codes.Forged)
    other = codes.keyring((codes.new_key_entry(2),))  # the same id, another key
    assert isinstance(codes.read(other, code), codes.Forged)
    assert isinstance(codes.read(codes.keyring(()), code), codes.Forged)


def test_rotation_keeps_codes_of_the_old_key_valid_while_it_is_listed() -> None:
    before = codes.keyring((OLD,))
    code = codes.sign(before, uuid.uuid4(), 0)
    assert code is not None
    after = codes.keyring((NEW, OLD))
    assert isinstance(codes.read(after, code), codes.SignedCode)
    assert codes.sign(after, uuid.uuid4(), 0).startswith(codes.PREFIX)  # type: ignore[union-attr]
    assert after.signing is not None
    assert after.signing[0] == 2
    assert isinstance(codes.read(codes.keyring((NEW,)), code), codes.Forged)  # dropped


def test_the_qr_code_is_version_6_at_level_m_in_alphanumeric_mode() -> None:
    code = codes.sign(codes.keyring((NEW,)), uuid.uuid4(), 3)
    qr = segno.make_qr(code, error="m", boost_error=False)
    assert (qr.version, qr.mode) == (6, "alphanumeric")


def test_tickets_are_numbered_in_seat_label_order() -> None:
    assert rules.number_tickets(["B10", "A2", "B9"]) == {"A2": 1, "B10": 2, "B9": 3}
