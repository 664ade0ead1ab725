"""Hostile input to the money routes: random bodies (and random signed bytes to the callback)
never answer 500; every refusal is problem+json."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.money.helpers import PROVIDER, signed
from tests.integration.test_no_input_yields_500 import JSON

MONEY_FIELDS = st.sampled_from(
    [
        "amount",
        "reason",
        "method",
        "expected_refunded",
        "provider_reference",
        "seats",
        "expected_status",
        "id",
        "type",
        "checkout_id",
        "payment_id",
        "currency",
        "occurred_at",
        "patron",
        "tickets",
    ]
)
BODIES = JSON | st.dictionaries(MONEY_FIELDS, JSON, max_size=7)
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(body=BODIES, route=st.integers(0, 4))
async def test_random_bodies_never_yield_a_500(client, manager, body, route):
    path = [
        "/v1/bookings/NOSUCH1/refunds",
        "/v1/bookings/NOSUCH1/payments",
        "/v1/bookings/NOSUCH1/reseat",
        f"/v1/holds/{'0' * 8}-0000-0000-0000-{'0' * 12}/checkout",
        f"/v1/payments/callbacks/{PROVIDER}",
    ][route]
    raw = json.dumps(body).encode()
    headers = {**manager, **signed(raw), "Idempotency-Key": "k", "X-Hold-Token": "t"}
    response = await client.post(path, content=raw, headers=headers)
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@FAST
@given(raw=st.binary(max_size=300), header=st.text(max_size=80))
async def test_random_bytes_and_signatures_to_the_callback_are_refused_cleanly(
    client, demo, raw, header
):
    for headers in ({"Usher-Signature": header}, signed(raw)):
        try:
            response = await client.post(
                f"/v1/payments/callbacks/{PROVIDER}",
                content=raw,
                headers={**headers, "Content-Type": "application/json"},
            )
        except UnicodeEncodeError:
            continue  # a header httpx cannot send
        assert response.status_code in (200, 400, 401), response.text
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
