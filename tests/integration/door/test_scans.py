"""Scanning at the door through the API: admit, every refusal, retries, undo, events."""

from __future__ import annotations

import base64
from uuid import UUID

from services import ticket_codes
from services.door import codes
from services.settings import get_settings
from tests.integration.box_office.helpers import events
from tests.integration.door.helpers import (
    admissions,
    book,
    code_bytes,
    code_of,
    open_doors,
    scan_body,
)


async def _scan(client, headers, body):
    response = await client.post("/v1/door/scans", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_ticket_is_admitted_once_and_a_retry_answers_the_same(client, staff, tonight, demo):
    booking = await book(client, tonight, ["C5", "C6"])
    first = scan_body(tonight, code_of(booking, 1), nonce="nonce-0001")
    admitted = await _scan(client, staff, first)
    assert admitted["result"] == "admitted", admitted
    [ticket] = admitted["tickets"]
    assert (ticket["seat"], ticket["ticket_type"], ticket["status"]) == ("C5", "adult", "admitted")
    assert admitted["booking_reference"] == booking["reference"]

    retried = await _scan(client, staff, first)  # the same scanner and nonce: the same answer
    assert retried == {**admitted, "replayed": True}

    again = await _scan(client, staff, scan_body(tonight, code_of(booking, 1), door="Side door"))
    assert (again["result"], again["reason"]) == ("refused", "already_admitted")
    [ticket] = again["tickets"]
    assert (ticket["door"], ticket["scanner_id"], ticket["admitted_by"]) == (
        "Main door",
        "phone-1",
        "Demo Staff",
    )
    assert ticket["admitted_at"] == admitted["scanned_at"]
    assert "Main door" in again["message"]

    assert len(await admissions(demo)) == 1
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM door_scan") == 2
    [recorded] = await events(demo, "admission.recorded")
    assert (recorded["seat_label"], recorded["door"], recorded["mode"]) == (
        "C5",
        "Main door",
        "online",
    )
    [conflict] = await events(demo, "admission.conflict")
    assert (conflict["admitted_door"], conflict["duplicate_door"]) == ("Main door", "Side door")


async def test_the_party_code_admits_every_ticket_left_and_says_what_they_need(
    client, staff, tonight, demo
):
    booking = await book(client, tonight, ["J1", "J2", "H1"], wheelchairs=1)
    await _scan(client, staff, scan_body(tonight, code_of(booking, 1)))  # H1 came first
    party = await _scan(client, staff, scan_body(tonight, code_of(booking)))
    assert party["result"] == "admitted"
    assert [(t["seat"], t["status"]) for t in party["tickets"]] == [
        ("H1", "already_admitted"),
        ("J1", "admitted"),
        ("J2", "admitted"),
    ]
    assert party["needs"] == ["Wheelchair space J1", "Companion seat J2"]
    assert "2 people" in party["message"]
    assert len(await admissions(demo)) == 3


async def test_todays_hmac_booking_code_still_admits_the_party(client, staff, tonight, demo):
    booking = await book(client, tonight, ["D1", "D2"])
    legacy = ticket_codes.sign(
        get_settings().auth.ticket_keys[0], UUID(booking["id"]), booking["reference"]
    )
    answer = await _scan(client, staff, scan_body(tonight, legacy.lower()))
    assert answer["result"] == "admitted"
    assert len(answer["tickets"]) == 2
    wrong = legacy[:-2] + ("AA" if not legacy.endswith("AA") else "BB")
    forged = await _scan(client, staff, scan_body(tonight, wrong))
    assert (forged["result"], forged["reason"]) == ("refused", "forged")


async def test_refusals_say_why(client, staff, tonight, later, demo):
    booking = await book(client, tonight, ["E3"])
    code = code_of(booking, 1)
    elsewhere = await _scan(client, staff, scan_body(later, code))
    assert (elsewhere["reason"], elsewhere["starts_at"] is not None) == ("another_screening", True)

    raw = bytearray(code_bytes(code))
    raw[-1] ^= 1  # one bit of the signature
    tampered = codes.PREFIX + base64.b32encode(bytes(raw)).decode().rstrip("=")
    for text in (tampered, "hello", "USHER2:AAAA", code.replace("USHER2", "USHER3")):
        answer = await _scan(client, staff, scan_body(tonight, text))
        assert answer["reason"] == "forged", (text, answer)

    await open_doors(demo, tonight, minutes=90)  # doors open 30 minutes before the start
    early = await _scan(client, staff, scan_body(tonight, code))
    assert (early["reason"], early["doors_open_at"] is not None) == ("not_open", True)
    await open_doors(demo, tonight)

    cancelled = await client.post(
        f"/v1/bookings/{booking['reference']}/cancel", json={}, headers=staff
    )
    assert cancelled.status_code == 200, cancelled.text
    answer = await _scan(client, staff, scan_body(tonight, code))
    assert answer["reason"] == "cancelled"
    assert "refunded" in answer["message"]
    assert await admissions(demo) == []


async def test_undo_is_recorded_with_who_and_the_ticket_can_be_admitted_again(
    client, staff, tonight, demo
):
    booking = await book(client, tonight, ["F4"])
    await _scan(client, staff, scan_body(tonight, code_of(booking, 1)))
    [admission] = await admissions(demo)
    undone = await client.post(
        f"/v1/door/admissions/{admission['id']}/undo",
        json={"reason": "wrong ticket"},
        headers=staff,
    )
    assert undone.status_code == 204, undone.text
    assert await admissions(demo) == []
    again = await _scan(client, staff, scan_body(tonight, code_of(booking, 1)))
    assert again["result"] == "admitted"
    [event] = await events(demo, "admission.undone")
    assert (event["undone_by"], event["reason"]) == ("Demo Staff", "wrong ticket")
    async with demo.acquire() as conn:
        action = await conn.fetchrow("SELECT * FROM staff_action WHERE action = 'admission.undo'")
    assert action["subject_id"] == str(admission["id"])
    twice = await client.post(f"/v1/door/admissions/{admission['id']}/undo", json={}, headers=staff)
    assert twice.status_code == 404


async def test_reentry_is_a_venue_setting(client, staff, manager, tonight, demo):
    booking = await book(client, tonight, ["G2"])
    async with demo.acquire() as conn:
        venue = await conn.fetchval("SELECT venue_id FROM screening WHERE id = $1", tonight)
    policy = await client.put(
        f"/v1/door/venues/{venue}/policy", json={"reentry": True}, headers=manager
    )
    assert policy.status_code == 200, policy.text
    code = code_of(booking, 1)
    assert (await _scan(client, staff, scan_body(tonight, code)))["result"] == "admitted"
    back = await _scan(client, staff, scan_body(tonight, code))
    assert back["result"] == "admitted"
    assert back["message"].startswith("Re-entry")
    assert len(await admissions(demo)) == 1
    assert await events(demo, "admission.conflict") == []
    refused = await client.put(f"/v1/door/venues/{venue}/policy", json={}, headers=staff)
    assert refused.status_code == 403


async def test_scans_need_staff_and_a_well_formed_body(client, staff, tonight, demo):
    body = scan_body(tonight, "USHER2:AAAA")
    assert (await client.post("/v1/door/scans", json=body)).status_code == 401
    bad = await client.post("/v1/door/scans", json={**body, "nonce": "x"}, headers=staff)
    assert bad.status_code == 400
    assert "nonce" in bad.text


async def test_the_public_keys_are_public_and_verify_the_codes(client, tonight, demo):
    response = await client.get("/v1/door/keys")
    assert response.status_code == 200
    body = response.json()
    assert [k["id"] for k in body["keys"]] == [1, 2]
    assert body["signing_key_id"] == 2
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    booking = await book(client, tonight, ["H5"])
    raw = code_bytes(code_of(booking, 1))
    key = next(k for k in body["keys"] if k["id"] == raw[1])
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["public_key"] + "="))
    public.verify(raw[19:], b"usher door code" + raw[:19])  # raises if it does not verify


async def test_the_dashboard_counts_admitted_of_expected_and_lists_no_shows(
    client, staff, tonight, demo
):
    came = await book(client, tonight, ["A7", "A8"])
    away = await book(client, tonight, ["A9"])
    await _scan(client, staff, scan_body(tonight, code_of(came, 2)))
    programme = await client.get("/v1/staff/screenings", headers=staff)
    (line,) = [s for s in programme.json()["screenings"] if s["id"] == str(tonight)]
    assert (line["admitted"], line["counts"]["booked"]) == (1, 3)
    counts = await client.get(
        "/v1/door/counts", params={"screening_id": str(tonight)}, headers=staff
    )
    assert counts.json() == [{"screening_id": str(tonight), "admitted": 1, "expected": 3}]
    missing = await client.get(f"/v1/door/screenings/{tonight}/no-shows", headers=staff)
    assert missing.json() == [
        {"booking_reference": r["reference"], "patron_name": "Ana Pop", "seats": seats}
        for r, seats in sorted(
            [(came, ["A7"]), (away, ["A9"])], key=lambda pair: pair[0]["reference"]
        )
    ]


async def test_a_device_reserved_for_the_booking_waits_at_the_desk(client, staff, tonight, demo):
    booking = await book(client, tonight, ["E8"])
    reserved = await client.post(
        f"/v1/screenings/{tonight}/device-reservations",
        json={"kind": "assistive_listening", "booking_reference": booking["reference"]},
        headers={**staff, "X-Booking-Secret": booking["secret"]},
    )
    assert reserved.status_code == 201, reserved.text
    assert reserved.json()["status"] == "reserved"
    answer = await _scan(client, staff, scan_body(tonight, code_of(booking)))
    assert answer["needs"] == ["A reserved listening receiver waits at the desk"]


async def test_hostile_input_gets_a_problem_naming_the_field_never_a_500(
    client, staff, tonight, demo
):
    base = f"/v1/door/screenings/{tonight}"
    probes = [
        ("GET", f"{base}/snapshot?since=99999999999999999999999", None),
        ("GET", f"{base}/snapshot?since=-1", None),
        ("GET", f"{base}/snapshot?since=abc", None),
        ("POST", "/v1/door/scans", {"screening_id": "x"}),
        # a screening that does not exist (found by schemathesis): 422 naming it, not a 500
        ("POST", "/v1/door/scans", scan_body(UUID("01a24a48-9635-7355-a2b7-77deebb7ccc0"), "0")),
        ("POST", "/v1/door/scans", scan_body(tonight, "A" * 301)),
        ("POST", "/v1/door/scans", scan_body(tonight, "USHER2:\u0000")),
        ("POST", "/v1/door/scans", {**scan_body(tonight, "x"), "door": "a\r\nb"}),
        ("POST", f"{base}/uploads", {"scanner_id": "s", "door": "d", "scans": []}),
        ("POST", f"{base}/uploads", {"scanner_id": "s", "door": "d", "scans": [{"code": "x"}]}),
        (
            "POST",
            f"{base}/uploads",
            {
                "scanner_id": "s",
                "door": "d",
                "scans": [{"code": "x", "nonce": "n" * 10, "scanned_at": "0001-01-01T00:00:00Z"}],
            },
        ),
        ("POST", "/v1/door/admissions/not-a-uuid/undo", {}),
        ("GET", "/v1/door/counts?screening_id=nope", None),
        ("PUT", f"/v1/door/venues/{tonight}/policy", {"doors_open_minutes": 99999}),
    ]
    for method, path, body in probes:
        response = await client.request(method, path, json=body, headers=staff)
        assert response.status_code < 500, (path, body, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", response.text
