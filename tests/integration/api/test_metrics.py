"""GET /metrics: Prometheus text, labelled by route template, never by raw path."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory


def sample(client: TestClient, line_start: str) -> float:
    """The value of the one sample whose line starts with `line_start`; 0 if absent."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    route = 'tessera_http_requests_total{method="GET",route="/users/{id}",status="401"}'
    before = sample(client, route)
    for _ in range(3):
        assert client.get(f"/users/{uuid.uuid4()}").status_code == 401
    assert sample(client, route) == before + 3

    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "/users/" + "{id}" in response.text
    unmatched = 'tessera_http_requests_total{method="GET",route="unmatched",status="404"}'
    before = sample(client, unmatched)
    client.get(f"/no/such/{uuid.uuid4()}")
    assert sample(client, unmatched) == before + 1
    assert "/no/such/" not in client.get("/metrics").text
    latency = 'tessera_http_request_duration_seconds_count{method="GET",route="/metrics"'
    assert latency in client.get("/metrics").text


def test_logins_and_refreshes_are_counted_by_outcome(client: TestClient, db: Session) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="a@acme.test", roles=[builtin_role(db, tenant, "member")])
    db.commit()
    success = 'tessera_logins_total{outcome="success"}'
    refused = 'tessera_logins_total{outcome="invalid_grant"}'
    refreshed = 'tessera_token_refreshes_total{outcome="success"}'
    before = {name: sample(client, name) for name in (success, refused, refreshed)}

    login = {"grant_type": "password", "username": "acme/a@acme.test"}
    assert client.post("/token", data={**login, "password": "not it at all"}).status_code == 400
    tokens = client.post("/token", data={**login, "password": DEFAULT_PASSWORD}).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert client.post("/token", data=refresh).status_code == 200

    assert sample(client, success) == before[success] + 1
    assert sample(client, refused) == before[refused] + 1
    assert sample(client, refreshed) == before[refreshed] + 1
