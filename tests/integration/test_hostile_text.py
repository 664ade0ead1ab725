"""Free text that could reach an email header or any one-line context refuses control characters,
and an e-mail address is one parsed addr-spec: each refusal is a problem naming the field
(docs/security.md, "Hostile input")."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.box_office.helpers import confirm_body, hold, screening_in, token_of

Client = AsyncTestClient[Litestar]

# CR LF (a header line, or the end of the headers), TAB, other C0, DEL, NEL (C1), U+2028, U+2029
BREAKS = ["Ana\r\nBcc: evil@attacker.example", "Ana\nPop", "Ana\tPop", "Ana\x1bPop", "Ana\x7f"]
BREAKS += ["Ana\x85Pop", "Ana\u2028Pop", "Ana\u2029Pop"]
BAD_ADDRESSES = [
    "v>,<evil@attacker.example",  # a second address in a list
    "ana@example.org\r\nBcc: evil@attacker.example",
    "ana..pop@example.org",  # the pattern lets these through; the parser does not
    "ana@example",
    "ana@localhost.invalid",
    "ana@-example.org",
]


def field_of(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"].endswith("/validation-error")
    return [error["field"] for error in body["errors"]]


async def _hold(client: Client, demo: asyncpg.Pool) -> tuple[UUID, dict[str, str]]:
    screening_id = await screening_in(demo, "cinema-2")
    made = await hold(client, screening_id, {"seats": ["A5"]})
    assert made.status_code == 201, made.text
    return UUID(made.json()["id"]), {**token_of(made), "Idempotency-Key": "order-1"}


@pytest.mark.parametrize("name", BREAKS)
async def test_a_patron_name_with_a_line_break_is_refused(
    client: Client, demo: asyncpg.Pool, name: str
) -> None:
    hold_id, token = await _hold(client, demo)
    body = confirm_body(["A5"])
    body["patron"]["name"] = name
    response = await client.post(f"/v1/holds/{hold_id}/confirm", json=body, headers=token)
    assert field_of(response) == ["patron.name"]
    assert response.json()["errors"][0]["pointer"] == "#/patron/name"


@pytest.mark.parametrize("address", BAD_ADDRESSES)
async def test_a_patron_address_is_one_parsed_addr_spec(
    client: Client, demo: asyncpg.Pool, address: str
) -> None:
    hold_id, token = await _hold(client, demo)
    body = confirm_body(["A5"])
    body["patron"]["email"] = address
    response = await client.post(f"/v1/holds/{hold_id}/confirm", json=body, headers=token)
    assert field_of(response) == ["patron.email"]
    assert response.json()["errors"][0]["pointer"] == "#/patron/email"


async def test_good_names_and_addresses_still_book(client: Client, demo: asyncpg.Pool) -> None:
    hold_id, token = await _hold(client, demo)
    body = confirm_body(["A5"])
    body["patron"] = {"name": "Zoë O'Brien-Ng", "email": "zoe+films@bücher.example"}
    response = await client.post(f"/v1/holds/{hold_id}/confirm", json=body, headers=token)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("name", "email", "field"),
    [
        ("Ana\r\nBcc: evil@attacker.example", "ana@example.org", "patron_name"),
        ("Ana Pop", "v>,<evil@attacker.example", "patron_email"),
        ("Ana Pop", "ana..pop@example.org", "patron_email"),
    ],
)
async def test_a_device_reservation_refuses_the_same(
    client: Client, demo: asyncpg.Pool, name: str, email: str, field: str
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    response = await client.post(
        f"/v1/screenings/{screening_id}/device-reservations",
        json={"kind": "assistive_listening", "patron_name": name, "patron_email": email},
        headers={"X-Client-Id": "hostile-text"},
    )
    assert field_of(response) == [field]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/staff/members",
            {"email": "new@example.org", "name": "New\r\nUsher", "password": "long-enough-pw"},
            "name",
        ),
        (
            "/v1/staff/members",
            {"email": "v>,<evil@attacker.example", "name": "New", "password": "long-enough-pw"},
            "email",
        ),
        (
            "/v1/films",
            {"slug": "harold", "title": "Harold\r\n& Maude", "runtime_minutes": 91},
            "title",
        ),
        (
            "/v1/films",
            {"slug": "harold", "title": "Harold", "runtime_minutes": 91, "directors": ["Hal\nA"]},
            "directors[0]",
        ),
    ],
)
async def test_staff_input_refuses_the_same(
    client: Client, manager: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body, headers=manager)
    assert field_of(response) == [field]


async def test_long_text_keeps_its_line_breaks(client: Client, manager: dict[str, str]) -> None:
    body = {
        "slug": "harold-and-maude",
        "title": "Harold & Maude",
        "runtime_minutes": 91,
        "synopsis": "A young man.\r\n\r\nAn old woman.\tThe end.",
    }
    response = await client.post("/v1/films", json=body, headers=manager)
    assert response.status_code == 201, response.text
    body["synopsis"] = "A young man.\x1b[31m"
    body["slug"] = "harold-and-maude-2"
    response = await client.post("/v1/films", json=body, headers=manager)
    assert field_of(response) == ["synopsis"]


def test_a_stored_address_reads_back_whatever_it_is() -> None:
    """Only what comes in is parsed: a booking made before (or by hand) still reads."""
    from schemas.box_office import Patron, PatronIn

    assert Patron(name="Ana", email="ana@usher.invalid").email == "ana@usher.invalid"
    with pytest.raises(ValueError, match="field `email`"):
        PatronIn(name="Ana", email="ana@usher.invalid")
