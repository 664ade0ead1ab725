"""Hostile bodies, paths and media types answer a problem naming the field, never a 500; writes
take application/json only and decode strictly; no path skips authentication by pattern."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

PROBLEM = "application/problem+json"
FILM = {"slug": "the-beast", "title": "THE BEAST", "runtime_minutes": 146}


def _json(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "content-type": "application/json"}


def _error(response, status: int, slug: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("/" + slug), problem
    assert len(problem["errors"]) == 1, problem
    error: dict[str, str] = problem["errors"][0]
    return error


async def _films(client) -> list[str]:
    return [film["slug"] for film in (await client.get("/v1/films")).json()["items"]]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"slug": "\xff\xfe", "title": "X", "runtime_minutes": 90}', "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, None),
        (b'{"slug": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
        (b'{"slug": "the-beast", "title": "THE B', "truncated"),
        (b"", None),
        (b"\x00", None),
    ],
)
async def test_bodies_that_are_not_json_answer_400_naming_the_body(client, manager, body, reason):
    response = await client.post("/v1/films", content=body, headers=_json(manager))
    error = _error(response, 400, response.json()["type"].rsplit("/", 1)[1])
    assert error["field"] == "body" or error["pointer"].startswith("#"), error
    assert error["source"] == "body"
    if reason:
        assert response.json()["type"].endswith("/malformed-body")
        assert reason in error["reason"]
    assert "the-beast" not in await _films(client)


async def test_a_number_too_big_for_any_type_names_its_field(client, manager):
    body = b'{"slug": "the-beast", "title": "X", "runtime_minutes": 1e400}'
    error = _error(
        await client.post("/v1/films", content=body, headers=_json(manager)),
        400,
        "validation-error",
    )
    assert error["pointer"] == "#/runtime_minutes"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**FILM, "runtime_minutes": "146"}, "runtime_minutes"),
        ({**FILM, "title": 5}, "title"),
        ({**FILM, "directors": "Bertrand Bonello"}, "directors"),
        ({**FILM, "year": 2023.0}, "year"),
        ({**FILM, "year": True}, "year"),
    ],
)
async def test_decoding_is_strict_a_string_is_not_a_number(client, manager, body, field):
    error = _error(
        await client.post("/v1/films", json=body, headers=manager), 400, "validation-error"
    )
    assert error["field"] == field
    assert error["pointer"] == f"#/{field}"
    assert "the-beast" not in await _films(client)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        None,
    ],
)
async def test_writes_take_application_json_only(client, manager, demo, content_type):
    """What a cross-origin page may send without a CORS preflight (text/plain, the form
    encodings) is refused before anything is written."""
    import json

    headers = dict(manager)
    if content_type:
        headers["content-type"] = content_type
    response = await client.post("/v1/films", content=json.dumps(FILM), headers=headers)
    error = _error(response, 415, "unsupported-media-type")
    assert error == {"field": "Content-Type", "reason": "not application/json", "source": "header"}
    assert "the-beast" not in await _films(client)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
async def test_json_media_types_with_parameters_or_suffixes_are_taken(
    client, manager, demo, content_type
):
    import json

    response = await client.post(
        "/v1/films", content=json.dumps(FILM), headers={**manager, "content-type": content_type}
    )
    assert response.status_code == 201, response.text


async def test_a_hold_cannot_be_made_by_a_simple_cross_origin_post(client, demo):
    screening = (await client.get("/v1/screenings")).json()["items"][0]["id"]
    response = await client.post(
        f"/v1/screenings/{screening}/holds",
        content='{"seats": ["A1"]}',
        headers={"content-type": "text/plain", "origin": "https://evil.example"},
    )
    assert response.status_code == 415, response.text


async def _screening_body(client, starts_at: str) -> dict[str, object]:
    venue = (await client.get("/v1/venues/riverside")).json()
    room = next(a for a in venue["auditoriums"] if a["slug"] == "cinema-1")
    return {
        "film": "ghost-tropic",
        "auditorium_id": room["id"],
        "starts_at": starts_at,
        "prices": [{"ticket_type": "adult", "amount": 1400}],
    }


@pytest.mark.parametrize(
    "starts_at",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "0001-01-01T00:00:00-05:00",
        "9999-12-31T23:00:00Z",
        "9999-12-31T23:00:00+14:00",
        "1899-12-31T23:00:00Z",
        "2200-01-01T00:00:00Z",
    ],
)
async def test_a_start_out_of_range_is_a_422_naming_starts_at(client, manager, demo, starts_at):
    body = await _screening_body(client, starts_at)
    created = await client.post("/v1/screenings", json=body, headers=manager)
    assert _error(created, 422, "invalid-input")["field"] == "starts_at"

    when = (datetime.now(UTC) + timedelta(days=40)).replace(microsecond=0).isoformat()
    made = await client.post(
        "/v1/screenings", json=await _screening_body(client, when), headers=manager
    )
    assert made.status_code == 201, made.text
    moved = await client.patch(
        f"/v1/screenings/{made.json()['id']}", json={"starts_at": starts_at}, headers=manager
    )
    assert _error(moved, 422, "invalid-input")["pointer"] == "#/starts_at"


@pytest.mark.parametrize(
    "path", ["/staff/assets/app%00.js", "/staff/assets/%00", "/schema/assets/init.js%00"]
)
async def test_a_nul_byte_in_an_asset_path_is_not_found(client, path):
    response = await client.get(path)
    assert response.status_code == 404, response.text


async def test_a_film_whose_slug_contains_schema_or_healthz_still_needs_a_token(client, manager):
    """Authentication is skipped by the route's own flag, never because a path contains
    `/schema` or `/healthz`."""
    for slug in ("schemata", "healthz"):
        made = await client.post("/v1/films", json={**FILM, "slug": slug}, headers=manager)
        assert made.status_code == 201, made.text
        anonymous = await client.patch(f"/v1/films/{slug}", json={"rating": "PG"})
        assert anonymous.status_code == 401, anonymous.text
        edited = await client.patch(f"/v1/films/{slug}", json={"rating": "PG"}, headers=manager)
        assert edited.status_code == 200, edited.text
        assert edited.json()["rating"] == "PG"
    assert (await client.get("/schema/openapi.json")).status_code == 200
    assert (await client.get("/healthz")).status_code == 200


async def test_a_missing_idempotency_key_names_the_header(client, demo):
    response = await client.post(
        "/v1/holds/01900000-0000-7000-8000-000000000000/confirm",
        json={
            "patron": {"name": "Ana Pop", "email": "ana@example.org"},
            "tickets": [{"seat": "A1", "ticket_type": "adult"}],
        },
        headers={"X-Hold-Token": "x" * 30},
    )
    error = _error(response, 400, "validation-error")
    assert (error["field"], error["source"]) == ("Idempotency-Key", "header"), error
    assert "pointer" not in error
