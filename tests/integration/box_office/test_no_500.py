"""Whatever a client sends to the box office, the answer is never a 500, and every refusal is
problem+json; the OpenAPI document still builds with the box-office routes in it."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.box_office.helpers import hold, token_of

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    ["seats", "count", "wheelchair_spaces", "add", "remove", "patron", "tickets",
     "payment_reference", "reason", "refund", "note"]
)  # fmt: skip
LABELS = st.lists(st.sampled_from(["A1", "A2", "M1", "M2", "Z9", "", "\x00", "a" * 20]), max_size=4)
BODIES = JSON | st.dictionaries(FIELDS, JSON | LABELS, max_size=4)
HEADERS = st.dictionaries(
    st.sampled_from(["X-Hold-Token", "X-Booking-Secret", "X-Client-Id", "Idempotency-Key"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    max_size=3,
)
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(body=BODIES, headers=HEADERS, route=st.integers(0, 6))
async def test_random_requests_never_yield_a_500(client, big, staff, body, headers, route):
    made = await hold(client, big, {"seats": ["B3"]}, client_id="fuzz")
    hold_id = (
        made.json()["id"] if made.status_code == 201 else "01900000-0000-7000-8000-000000000000"
    )
    token = token_of(made) if made.status_code == 201 else {}
    method, path, extra = [
        ("post", f"/v1/screenings/{big}/holds", {}),
        ("patch", f"/v1/holds/{hold_id}", token),
        ("post", f"/v1/holds/{hold_id}/confirm", token),
        ("post", f"/v1/holds/{hold_id}/extend", token),
        ("post", "/v1/bookings/ABCDEFG/cancel", {}),
        ("post", f"/v1/screenings/{big}/blocks", staff),
        ("delete", f"/v1/screenings/{big}/blocks?seat=A1", staff),
    ][route]
    response = await client.request(
        method,
        path,
        content=json.dumps(body),
        headers={**headers, **extra, "content-type": "application/json"},
    )
    assert response.status_code < 500, (method, path, body, headers, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    if made.status_code == 201:
        await client.delete(f"/v1/holds/{hold_id}", headers=token)


async def test_the_openapi_document_lists_the_box_office(client, db):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/v1/screenings/{screening_id}/seats",
        "/v1/screenings/{screening_id}/holds",
        "/v1/holds/{hold_id}",
        "/v1/holds/{hold_id}/confirm",
        "/v1/bookings/{reference}/cancel",
        "/v1/screenings/{screening_id}/blocks",
    ):
        assert path in paths, path
