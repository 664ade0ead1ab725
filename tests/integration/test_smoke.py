async def test_health(client, db):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_here_screenings(client, demo):
    response = await client.get("/v1/screenings", params={"feature": "assistive_listening"})
    assert response.status_code == 200, response.text
    print(response.json()["items"][0])
