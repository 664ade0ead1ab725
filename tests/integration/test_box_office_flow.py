from __future__ import annotations

from tests.integration.box_office_fixtures import (
    big,
    confirm_body,
    events,
    hold,
    small,
    token_of,
)

__all__ = ["big", "small"]


async def test_hold_and_confirm(client, demo, small):
    response = await hold(client, small, {"seats": ["C5", "C6"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert [s["label"] for s in body["seats"]] == ["C5", "C6"]
    confirm = await client.post(
        f"/v1/holds/{body['id']}/confirm",
        json=confirm_body(["C5", "C6"]),
        headers={**token_of(response), "Idempotency-Key": "k1"},
    )
    assert confirm.status_code == 201, confirm.text
    booking = confirm.json()
    print(booking)
    seatmap = await client.get(f"/v1/screenings/{small}/seats")
    assert seatmap.status_code == 200, seatmap.text
    print(seatmap.json()["counts"], seatmap.headers["etag"])
    print(await events(demo, "booking.confirmed"))
