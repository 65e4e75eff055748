"""Errors the framework or the database raise, answered in our shape and never as 500."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.domain.scopes import Scope
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory


def test_an_unknown_path_is_a_404_in_our_error_shape(client: TestClient) -> None:
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "Not Found"}


def test_a_405_lists_every_method_of_the_path(client: TestClient) -> None:
    # GET and POST /users are two routes; Starlette alone would name only one of them.
    response = client.delete("/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"] == "method_not_allowed"


def test_a_body_that_is_not_utf8_is_a_422_like_any_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/invitations/accept",
        content=b'{"token": "\xff"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "body: JSON decode error",
    }


def test_a_nul_character_in_stored_text_is_a_422_not_a_500(
    client: TestClient, db: Session, issue_token: Callable[..., str]
) -> None:
    tenant = TenantFactory()
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    token = issue_token(owner, [Scope.API_KEYS_MANAGE])
    response = client.post("/service-accounts", json={"name": "robot\u0000"}, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "body.name: contains a NUL character",
    }


def test_revoke_without_a_token_is_a_documented_400(client: TestClient) -> None:
    response = client.post("/revoke", data={})
    assert response.status_code == 400
    documented = client.get("/openapi.json").json()["paths"]["/revoke"]["post"]["responses"]
    assert "400" in documented
