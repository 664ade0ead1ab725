"""Whatever a client sends, the answer is never a 500: random JSON bodies against every write
route, and random query strings against the list reads."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["slug", "title", "runtime_minutes", "film", "auditorium_id", "starts_at", "prices", "seats",
     "venue_id", "features", "subtitles", "series", "related", "press_quotes", "time_zone"]
)  # fmt: skip
BODIES = JSON | st.dictionaries(FIELDS, JSON, max_size=6)
WRITES = [
    ("post", "/v1/films"),
    ("patch", "/v1/films/here"),
    ("post", "/v1/series"),
    ("post", "/v1/venues"),
    ("post", "/v1/auditoriums"),
    ("post", "/v1/screenings"),
    ("post", "/v1/staff/members"),
    ("post", "/v1/staff/sessions"),
]
QUERY_KEYS = st.sampled_from(
    [
        "from",
        "to",
        "film",
        "series",
        "venue",
        "feature",
        "audio_language",
        "status",
        "cursor",
        "limit",
    ]
)
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(body=BODIES, route=st.sampled_from(WRITES))
async def test_random_bodies_never_yield_a_500(client, manager, body, route):
    method, path = route
    response = await client.request(
        method,
        path,
        content=json.dumps(body),
        headers={**manager, "content-type": "application/json"},
    )
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@FAST
@given(params=st.lists(st.tuples(QUERY_KEYS, st.text(max_size=25)), max_size=5))
async def test_random_queries_never_yield_a_500(client, demo, params):
    for path in ("/v1/screenings", "/v1/films"):
        response = await client.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text)
