from fastapi.testclient import TestClient

from backend.domain.scopes import Scope
from backend.main import create_app
from backend.settings import Settings


def test_healthz_needs_nothing(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_checks_database_and_redis(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_naming_what_is_down(settings: Settings) -> None:
    # Port 1 on loopback: nothing listens there, so Redis is unreachable at once.
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unavailable"},
    }


def test_openapi_shows_every_scope_in_the_oauth2_scheme(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    (oauth2,) = [s for s in schemes.values() if s["type"] == "oauth2"]
    flow = oauth2["flows"]["password"]
    assert flow["tokenUrl"] == "token"
    assert set(flow["scopes"]) == {s.value for s in Scope}
    (api_key,) = [s for s in schemes.values() if s["type"] == "apiKey"]
    assert (api_key["in"], api_key["name"]) == ("header", "X-API-Key")
