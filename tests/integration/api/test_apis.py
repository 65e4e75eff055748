"""Product APIs over HTTP: platform operators declare APIs and their scopes (issue 16)."""

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, AuditEvent, Role, RoleScope, Tenant, User
from backend.services.apis import BUILTIN_API_ID
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.concurrency import all_at_once
from tests.support.platform import create_operator

PASSWORD = "violet otters juggle lanterns"
PROJECTS = "https://api.example.com/projects"


def login(client: TestClient, username: str, password: str) -> str:
    response = client.post(
        "/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def operator(client: TestClient, db: Session, effects: Effects, settings: Settings) -> str:
    create_operator(db, effects, settings, PASSWORD)
    return login(client, "platform/ops@platform.test", PASSWORD)


def create(client: TestClient, token: str, **body: object) -> httpx.Response:
    payload = {
        "identifier": PROJECTS,
        "name": "Projects",
        "description": "The projects service",
        "scopes": {"projects:read": "Read projects", "projects:write": "Edit projects"},
        **body,
    }
    # Sent as ASCII JSON, so lone surrogates travel as \ud800 escapes.
    return client.post(
        "/apis",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=json.dumps(payload),
    )


def test_an_operator_declares_reads_edits_and_deletes_an_api(
    client: TestClient, db: Session, operator: str
) -> None:
    created = create(client, operator)
    assert created.status_code == 201, created.text
    api = created.json()
    assert api["identifier"] == PROJECTS
    assert api["builtin"] is False
    assert [s["scope"] for s in api["scopes"]] == ["projects:read", "projects:write"]

    listed = client.get("/apis", headers=bearer(operator)).json()
    assert listed[0]["builtin"] is True
    assert listed[0]["id"] == str(BUILTIN_API_ID)
    assert "users:read" in {s["scope"] for s in listed[0]["scopes"]}
    assert [a["identifier"] for a in listed[1:]] == [PROJECTS]

    patched = client.patch(
        f"/apis/{api['id']}",
        headers=bearer(operator),
        json={"name": "Projects v2", "scopes": {"projects:read": "Read them", "tasks:read": "T"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Projects v2"
    assert {s["scope"]: s["description"] for s in patched.json()["scopes"]} == {
        "projects:read": "Read them",
        "tasks:read": "T",
    }
    assert client.get(f"/apis/{api['id']}", headers=bearer(operator)).json() == patched.json()

    assert client.delete(f"/apis/{api['id']}", headers=bearer(operator)).status_code == 204
    assert client.get(f"/apis/{api['id']}", headers=bearer(operator)).status_code == 404
    actions = list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target == f"api:{api['id']}")
            .order_by(AuditEvent.at)
        )
    )
    assert actions == ["api.created", "api.updated", "api.deleted"]


def test_the_builtin_api_can_be_neither_edited_nor_deleted(
    client: TestClient, operator: str, settings: Settings
) -> None:
    path = f"/apis/{BUILTIN_API_ID}"
    assert client.get(path, headers=bearer(operator)).json()["identifier"] == (
        settings.jwt_audience
    )
    for response in (
        client.patch(path, headers=bearer(operator), json={"name": "mine"}),
        client.delete(path, headers=bearer(operator)),
        create(client, operator, identifier=settings.jwt_audience),
        create(client, operator, scopes={"users:read": "taken by the catalogue"}),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["error_description"]


def test_identifiers_and_scope_names_are_unique(client: TestClient, operator: str) -> None:
    assert create(client, operator).status_code == 201
    assert create(client, operator).status_code == 409
    other = create(client, operator, identifier="https://api.example.com/billing")
    assert other.status_code == 409
    assert "projects:read" in other.json()["error_description"]


def test_two_concurrent_creations_of_one_identifier_one_wins(
    client: TestClient, db: Session, operator: str
) -> None:
    statuses = sorted(all_at_once(2, lambda: create(client, operator).status_code))
    assert statuses == [201, 409]
    db.expire_all()
    assert len(list(db.scalars(select(Api).where(Api.identifier == PROJECTS)))) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"identifier": "https://api.example.com/\x00"},
        {"identifier": "https://api.example.com/\ud800"},
        {"identifier": "not a uri"},
        {"identifier": "/relative"},
        {"identifier": "https://api.example.com/x#frag"},
        {"identifier": "https://[::1/unclosed"},
        {"identifier": "https://a.example/" + "x" * 400},
        {"name": "bad\x00name"},
        {"name": "bad\ud800name"},
        {"name": ""},
        {"description": "nul\x00"},
        {"description": "x" * 501},
        {"scopes": {"projects:read\x00": "x"}},
        {"scopes": {"projects:\ud800": "x"}},
        {"scopes": {"Projects:Read": "x"}},
        {"scopes": {"noaction": "x"}},
        {"scopes": {"projects:read": "nul\x00"}},
        {"scopes": {"a:" + "b" * 80: "x"}},
    ],
)
def test_unstorable_or_malformed_fields_are_4xx(
    client: TestClient, operator: str, body: dict[str, object]
) -> None:
    response = create(client, operator, **body)
    assert 400 <= response.status_code < 500, response.text
    answer = response.json()
    assert answer.get("error") == "invalid_request" or answer["detail"]


def test_removing_a_scope_roles_carry_is_refused_with_the_roles(
    client: TestClient, db: Session, operator: str
) -> None:
    api = create(client, operator).json()
    tenant = TenantFactory(slug="acme")
    db.flush()
    role = Role(tenant_id=tenant.id, name="editor")
    db.add(role)
    db.flush()
    db.add(RoleScope(tenant_id=tenant.id, role_id=role.id, scope="projects:write"))
    db.commit()
    patched = client.patch(
        f"/apis/{api['id']}",
        headers=bearer(operator),
        json={"scopes": {"projects:read": "Read projects"}},
    )
    assert patched.status_code == 409
    assert "acme/editor" in patched.json()["error_description"]
    deleted = client.delete(f"/apis/{api['id']}", headers=bearer(operator))
    assert deleted.status_code == 409
    assert "acme/editor" in deleted.json()["error_description"]


def test_apis_need_the_platform_scopes(client: TestClient, db: Session) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="boss@acme.test", roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    token = login(client, "acme/boss@acme.test", DEFAULT_PASSWORD)
    assert client.get("/apis", headers=bearer(token)).status_code == 403
    assert create(client, token).status_code == 403
    assert db.scalars(select(Tenant)).first() is not None
    assert db.scalars(select(User)).first() is not None
