"""The public programme: everything on the cinema's listing for HERE is held and served."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

from services.demo import coming_friday


async def test_health(client, db):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_assistive_listening_screenings_are_the_here_screenings(client, demo):
    response = await client.get("/v1/screenings", params={"feature": "assistive_listening"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    here = [s for s in items if s["film"]["slug"] == "here"]
    assert len(here) == 10
    first = here[0]
    assert first["film"]["title"] == "HERE"
    assert first["film"]["runtime_minutes"] == 82
    assert first["film"]["rating"] == "NR"
    assert first["film"]["directors"] == ["Bas Devos"]
    assert first["film"]["spoken_languages"] == ["fr", "ro", "zh", "nl"]
    assert first["audio_languages"] == ["fr", "ro", "zh", "nl"]
    assert first["subtitles"] == {"language": "en", "mode": "open"}
    assert first["format"] == "DCP"
    assert set(first["features"]) == {"assistive_listening", "hearing_loop", "subtitled"}
    assert [s["slug"] for s in first["series"]] == ["passports"]
    assert first["series"][0]["title"] == "Passports: An International Film Series"
    assert first["auditorium"]["hearing_loop"] is True
    assert {p["ticket_type"] for p in first["prices"]} == {"adult", "senior", "student", "member"}
    assert first["currency"] == "USD"


async def test_the_run_friday_to_tuesday_is_answerable(client, demo):
    friday = coming_friday(date.today())
    tuesday = friday + timedelta(days=4)
    response = await client.get(
        "/v1/screenings",
        params={"film": "here", "from": friday.isoformat(), "to": tuesday.isoformat()},
    )
    items = response.json()["items"]
    days = sorted({s["local_date"] for s in items})
    assert days == [(friday + timedelta(days=n)).isoformat() for n in range(5)]
    assert all(s["venue"]["time_zone"] == "America/New_York" for s in items)
    assert items[0]["local_start"].endswith(("-05:00", "-04:00"))
    only_friday = await client.get(
        "/v1/screenings",
        params={"film": "here", "from": friday.isoformat(), "to": friday.isoformat()},
    )
    assert len(only_friday.json()["items"]) == 2


async def test_film_holds_everything_on_the_listing(client, demo):
    response = await client.get("/v1/films/here")
    assert response.status_code == 200
    film = response.json()
    assert response.headers["etag"] == '"1"'
    assert film["countries"] == ["BE"]
    assert film["year"] == 2024
    assert film["synopsis"].startswith("HERE follows Stefan, a Romanian construction worker")
    assert film["synopsis"].endswith("strangers from different worlds.")
    assert len(film["press_quotes"]) == 5
    dargis = film["press_quotes"][0]
    assert dargis["critic"] == "Manohla Dargis"
    assert dargis["outlet"] == "New York Times"
    assert dargis["accolade"] == "NYT Critic’s Pick"
    assert film["website"].startswith("https://")
    assert film["related"] == [
        {
            "id": film["related"][0]["id"],
            "slug": "ghost-tropic",
            "title": "GHOST TROPIC",
            "year": 2019,
            "kind": "follows",
        }
    ]
    by_id = await client.get(f"/v1/films/{film['id']}")
    assert by_id.json() == film


async def test_series_venue_and_seat_map(client, demo):
    series = (await client.get("/v1/series/passports")).json()
    assert [f["slug"] for f in series["films"]] == ["here"]
    venue = (await client.get("/v1/venues/riverside")).json()
    assert venue["time_zone"] == "America/New_York"
    rooms = {a["slug"]: a for a in venue["auditoriums"]}
    assert rooms["cinema-1"]["capacity"] == 300
    assert rooms["cinema-2"]["hearing_loop"] is True
    big = (await client.get(f"/v1/auditoriums/{rooms['cinema-1']['id']}")).json()
    kinds = [s["kind"] for s in big["seats"]]
    assert kinds.count("wheelchair") == 4
    assert kinds.count("companion") == 4
    assert len({s["label"] for s in big["seats"]}) == 300


async def test_filters(client, demo):
    async def count(**params: str | list[str]) -> int:
        response = await client.get("/v1/screenings", params=params)
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    assert await count() == 12
    assert await count(film="ghost-tropic") == 2
    assert await count(series="passports") == 10
    assert await count(venue="riverside") == 12
    assert await count(feature="hearing_loop") == 10
    assert await count(audio_language="ro") == 10
    assert await count(subtitle_language="en") == 12
    assert await count(status="cancelled") == 0
    assert await count(status="on_sale") == 12
    # Repeated: any of them (not only the last).
    assert await count(status=["on_sale", "cancelled"]) == 12
    assert await count(status=["scheduled", "sold_out"]) == 0
    refused = await client.get("/v1/screenings", params={"status": ["on_sale", "playing"]})
    assert refused.status_code == 400, refused.text
    both = await client.get(
        "/v1/screenings?feature=hearing_loop&feature=assistive_listening&film=ghost-tropic"
    )
    assert both.json()["items"] == []


async def test_pagination_is_stable_and_complete(client, demo):
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "5"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/screenings", params=params)).json()
        seen += [s["id"] for s in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 12
    everything = (await client.get("/v1/screenings")).json()["items"]
    assert seen == [s["id"] for s in everything]
    films = (await client.get("/v1/films", params={"limit": "1"})).json()
    assert films["items"][0]["slug"] == "ghost-tropic"
    rest = (
        await client.get("/v1/films", params={"limit": "1", "cursor": films["next_cursor"]})
    ).json()
    assert rest["items"][0]["slug"] == "here"
    assert rest["next_cursor"] is None


async def test_bad_reads_are_problems_naming_the_field(client, demo):
    cases = [
        ("/v1/screenings?feature=flying", 400, "feature"),
        ("/v1/screenings?from=yesterday", 400, "from"),
        ("/v1/screenings?limit=0", 400, "limit"),
        ("/v1/screenings?cursor=not-a-cursor", 400, "cursor"),
        ("/v1/screenings?from=2025-03-26&to=2025-03-22", 400, "to"),
    ]
    for url, status, field in cases:
        response = await client.get(url)
        assert response.status_code == status, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field, url
    missing = await client.get("/v1/films/no-such-film")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/not-found")
    assert (await client.get("/v1/screenings/not-a-uuid")).status_code == 404


async def test_openapi_documents_every_operation(client, db):
    spec = (await client.get("/schema/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    operations = [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]
    assert len(operations) >= 15
    for path, method, op in operations:
        assert op.get("summary"), (path, method)
        if op.get("security"):  # staff operations document their 401
            assert "401" in op["responses"], (path, method)
            assert "application/problem+json" in op["responses"]["401"]["content"]
        if method in {"post", "patch"}:
            assert "400" in op["responses"], (path, method)


async def test_the_documented_examples_return_the_demo_programme(client, demo):
    """The OpenAPI text's and docs/api.md's example of a listing's run find HERE's ten
    screenings in the demo programme, whatever the day."""
    spec = (await client.get("/schema/openapi.json")).json()
    text = spec["paths"]["/v1/screenings"]["get"]["description"]
    found = re.search(r"`\?(film=[^`]+)`", text)
    assert found, text
    assert len((await client.get(f"/v1/screenings?{found.group(1)}")).json()["items"]) == 10
    assert len((await client.get(_api_md_example())).json()["items"]) == 10


def _api_md_example() -> str:
    """docs/api.md's curl example, its `$(date ...)` run by the shell as a reader's would be."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    command = re.search(r'curl "http://127\.0\.0\.1:8000(/v1/screenings\?[^"]+)"', doc)
    assert command, "docs/api.md lost its example"
    return subprocess.run(
        ["bash", "-c", f'echo "{command.group(1)}"'], capture_output=True, text=True, check=True
    ).stdout.strip()


async def test_openapi_types_the_seat_map_the_feed_and_etags(client, db):
    spec = (await client.get("/schema/openapi.json")).json()
    seats = spec["paths"]["/v1/screenings/{screening_id}/seats"]["get"]
    ok = seats["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SeatMap"}
    assert "ETag" in ok["headers"]
    assert "304" in seats["responses"]
    assert "If-None-Match" in {p["name"] for p in seats["parameters"] if p["in"] == "header"}
    seat_map = spec["components"]["schemas"]["SeatMap"]
    assert {"seats", "counts", "status", "version"} <= set(seat_map["properties"])
    feed = spec["paths"]["/v1/staff/events"]["get"]["responses"]["200"]
    assert list(feed["content"]) == ["text/event-stream"]
