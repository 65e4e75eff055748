"""Tokens per API (RFC 8707 `resource`) through HTTP: issuance, narrowing, invalid_target,
refreshes that keep their session's API, and Tessera's guard refusing product tokens."""

import base64
from dataclasses import dataclass

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, Client, LoginSession, Tenant, User
from backend.domain.clients import ClientType
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory

PROJECTS = "https://api.example.com/projects"
BILLING = "https://api.example.com/billing"


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    # Owner of the tenant, also holding projects:read and invoices:read (not projects:write).
    owner: User


@pytest.fixture
def acme(db: Session) -> Acme:
    for identifier, scopes in (
        (PROJECTS, ["projects:read", "projects:write"]),
        (BILLING, ["invoices:read"]),
    ):
        api = Api(identifier=identifier, name=identifier.rsplit("/", 1)[1])
        db.add(api)
        db.flush()
        db.add_all(ApiScope(name=name, api_id=api.id) for name in scopes)
    tenant = TenantFactory(slug="acme")
    product = RoleFactory(tenant=tenant, scopes=["projects:read", "invoices:read"])
    owner = UserFactory(
        tenant=tenant,
        email="ada@acme.test",
        roles=[builtin_role(db, tenant, "owner"), product],
    )
    db.commit()
    return Acme(tenant, owner)


def token(client: TestClient, **data: str | list[str]) -> httpx.Response:
    form = {
        "grant_type": "password",
        "username": "acme/ada@acme.test",
        "password": DEFAULT_PASSWORD,
    }
    return client.post("/token", data={**form, **data})


def claims(settings: Settings, access_token: str, audience: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(
        access_token, settings.signing_secret(), algorithms=["HS256"], audience=audience
    )
    return decoded


def test_a_token_for_a_product_api_carries_its_audience_and_only_its_scopes(
    client: TestClient, acme: Acme, settings: Settings
) -> None:
    response = token(client, resource=PROJECTS)
    assert response.status_code == 200, response.text
    body = response.json()
    # Held: the owner's tenant scopes, projects:read, invoices:read. For the projects API:
    # only its own.
    assert body["scope"] == "projects:read"
    decoded = claims(settings, body["access_token"], PROJECTS)
    assert decoded["aud"] == PROJECTS
    assert decoded["scope"] == "projects:read"
    assert decoded["sub"] == str(acme.owner.id)


def test_the_scope_is_requested_and_held_and_the_apis(client: TestClient, acme: Acme) -> None:
    # users:read (Tessera's) and invoices:read (billing's) are held, but not the projects
    # API's; projects:write is the API's, but not held.
    narrowed = token(
        client, resource=PROJECTS, scope="projects:read projects:write users:read invoices:read"
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "projects:read"
    nothing = token(client, resource=PROJECTS, scope="projects:write users:read")
    assert nothing.status_code == 400
    assert nothing.json()["error"] == "invalid_scope"


def test_without_resource_the_token_is_for_tessera_as_before(
    client: TestClient, acme: Acme, settings: Settings
) -> None:
    body = token(client).json()
    assert "projects:read" not in body["scope"].split()
    assert "users:read" in body["scope"].split()
    assert claims(settings, body["access_token"], settings.jwt_audience)["aud"] == (
        settings.jwt_audience
    )
    # Naming Tessera's own API is the same as naming none.
    named = token(client, resource=settings.jwt_audience).json()
    assert named["scope"] == body["scope"]
    # A product scope asked of Tessera's API is left out, as any scope not held is.
    mixed = token(client, scope="users:read projects:read").json()
    assert mixed["scope"] == "users:read"


@pytest.mark.parametrize(
    "resource",
    [
        "https://api.example.com/nothing",
        PROJECTS + "/",
        PROJECTS.upper(),
        "projects",
        [PROJECTS, BILLING],
        [PROJECTS, PROJECTS],
    ],
    ids=["unknown", "trailing-slash", "other-case", "not-a-uri", "two", "the-same-twice"],
)
def test_an_unknown_resource_or_more_than_one_is_invalid_target(
    client: TestClient, acme: Acme, resource: str | list[str]
) -> None:
    response = token(client, resource=resource)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"
    assert response.headers["cache-control"] == "no-store"


def test_a_scope_no_api_has_is_invalid_scope(client: TestClient, acme: Acme) -> None:
    response = token(client, resource=PROJECTS, scope="projects:read reports:export")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "unknown scope(s): reports:export",
    }


def test_tessera_refuses_a_product_token_on_every_admin_route(
    client: TestClient, acme: Acme
) -> None:
    product = token(client, resource=PROJECTS).json()["access_token"]
    for path in ("/me", "/users", "/roles"):
        response = client.get(path, headers=bearer(product))
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    own = token(client).json()["access_token"]
    assert client.get("/me", headers=bearer(own)).status_code == 200


def test_a_refresh_keeps_its_sessions_api(
    client: TestClient, acme: Acme, db: Session, settings: Settings
) -> None:
    first = token(client, resource=PROJECTS).json()
    stored = db.scalars(select(LoginSession.resource)).one()
    assert stored == PROJECTS

    def refresh(presented: str, **extra: str | list[str]) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": presented}
        return client.post("/token", data={**form, **extra})

    kept = refresh(first["refresh_token"])
    assert kept.status_code == 200, kept.text
    assert claims(settings, kept.json()["access_token"], PROJECTS)["scope"] == "projects:read"
    again = refresh(kept.json()["refresh_token"], resource=PROJECTS)
    assert again.status_code == 200, again.text
    latest = again.json()["refresh_token"]
    for other in (BILLING, settings.jwt_audience, [PROJECTS, PROJECTS]):
        refused = refresh(latest, resource=other)
        assert refused.status_code == 400, (other, refused.text)
        assert refused.json()["error"] == "invalid_target"
    # A refused refresh rotated nothing: the token still works.
    assert refresh(latest).status_code == 200


def test_a_session_for_tessera_refuses_a_product_resource(
    client: TestClient, acme: Acme, db: Session
) -> None:
    first = token(client).json()
    assert db.scalars(select(LoginSession.resource)).one() is None
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    refused = client.post("/token", data={**form, "resource": PROJECTS})
    assert refused.json()["error"] == "invalid_target"


def test_service_accounts_get_tokens_per_api(
    client: TestClient, acme: Acme, db: Session, settings: Settings, issue_token_for_owner: str
) -> None:
    product = RoleFactory(tenant=acme.tenant, scopes=["projects:read", "users:read"])
    db.commit()
    created = client.post(
        "/service-accounts",
        headers=bearer(issue_token_for_owner),
        json={"name": "robot", "role_ids": [str(product.id)]},
    )
    assert created.status_code == 201, created.text
    account = created.json()
    basic = base64.b64encode(f"{account['client_id']}:{account['client_secret']}".encode())
    headers = {"Authorization": f"Basic {basic.decode()}"}

    def grant(**data: str | list[str]) -> httpx.Response:
        return client.post(
            "/token", data={"grant_type": "client_credentials", **data}, headers=headers
        )

    for_projects = grant(resource=PROJECTS)
    assert for_projects.status_code == 200, for_projects.text
    assert for_projects.json()["scope"] == "projects:read"
    assert claims(settings, for_projects.json()["access_token"], PROJECTS)["aud"] == PROJECTS
    assert grant().json()["scope"] == "users:read"
    assert grant(resource=[PROJECTS, BILLING]).json()["error"] == "invalid_target"
    assert grant(resource="https://elsewhere.example").json()["error"] == "invalid_target"


@pytest.fixture
def issue_token_for_owner(client: TestClient, acme: Acme) -> str:
    access: str = token(client).json()["access_token"]
    return access


def test_a_client_may_ask_only_for_its_resources(
    client: TestClient, acme: Acme, db: Session, settings: Settings
) -> None:
    db.add(
        Client(
            client_id="acme-cli",
            name="Acme CLI",
            type=ClientType.PUBLIC,
            grant_types=["password"],
            resources=[PROJECTS],
        )
    )
    db.commit()
    allowed = token(client, client_id="acme-cli", resource=PROJECTS)
    assert allowed.status_code == 200, allowed.text
    for other in (BILLING, settings.jwt_audience, "https://api.example.com/nothing"):
        refused = token(client, client_id="acme-cli", resource=other)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_target"
    # Without resource, the token is for Tessera's own API, as for any login.
    assert token(client, client_id="acme-cli").status_code == 200
