"""Service accounts and the client-credentials grant, over HTTP."""

import base64
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, ServiceAccount, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    owner: User


@pytest.fixture
def acme(db: Session) -> Acme:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return Acme(tenant=tenant, owner=owner)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def create(client: TestClient, token: str, **body: object) -> httpx.Response:
    return client.post("/service-accounts", headers=bearer(token), json=body)


def client_token(client: TestClient, client_id: str, secret: str, **data: str) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "client_credentials", **data},
        headers=basic(client_id, secret),
    )


@pytest.fixture
def owner_token(acme: Acme, issue_token: IssueToken) -> str:
    return issue_token(acme.owner, sorted(TENANT_SCOPES))


def test_create_shows_the_secret_once_and_stores_only_a_hash(
    client: TestClient, acme: Acme, owner_token: str, db: Session
) -> None:
    auditor = builtin_role(db, acme.tenant, "auditor")
    response = create(client, owner_token, name="reporter", role_ids=[str(auditor.id)])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_id"] == f"sa_{acme.tenant.id.hex}_{body['id'].replace('-', '')}"
    assert body["client_secret"].startswith(body["secret_prefix"])
    assert body["role_ids"] == [str(auditor.id)]
    listed = client.get("/service-accounts", headers=bearer(owner_token)).json()
    assert [a["name"] for a in listed] == ["reporter"]
    assert "client_secret" not in listed[0]
    stored = db.scalars(select(ServiceAccount)).one()
    assert body["client_secret"].encode() not in stored.secret_hash
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "service_account.created")
    ).one()
    assert event.actor == f"user:{acme.owner.id}"
    assert event.request_id == response.headers["x-request-id"]
    assert event.client_ip == "testclient"


def test_client_credentials_grant_issues_a_token_from_the_roles(
    client: TestClient, acme: Acme, owner_token: str, db: Session
) -> None:
    keeper = RoleFactory(tenant=acme.tenant, scopes=[Scope.API_KEYS_MANAGE, Scope.AUDIT_READ])
    db.commit()
    body = create(client, owner_token, name="robot", role_ids=[str(keeper.id)]).json()
    response = client_token(client, body["client_id"], body["client_secret"])
    assert response.status_code == 200, response.text
    grant = response.json()
    assert "refresh_token" not in grant
    assert grant["scope"] == "api_keys:manage audit:read"
    claims = jwt.decode(grant["access_token"], options={"verify_signature": False})
    assert claims["sub"] == body["id"]
    assert claims["kind"] == "service_account"
    listed = client.get("/service-accounts", headers=bearer(grant["access_token"]))
    assert listed.status_code == 200
    narrowed = client_token(client, body["client_id"], body["client_secret"], scope="audit:read")
    assert narrowed.json()["scope"] == "audit:read"
    unknown = client_token(client, body["client_id"], body["client_secret"], scope="me")
    assert unknown.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Bearer something"},
        basic("sa_nope", "secret"),
        basic("sa_" + "0" * 32 + "_" + "1" * 32, "cs_whatever"),
    ],
    ids=["none", "garbage", "bearer", "bad-id", "unknown-id"],
)
def test_failed_client_authentication_is_401_with_a_basic_challenge(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_secret_and_revocation(
    client: TestClient, acme: Acme, owner_token: str, db: Session
) -> None:
    keeper = RoleFactory(tenant=acme.tenant, scopes=[Scope.API_KEYS_MANAGE])
    db.commit()
    body = create(client, owner_token, name="robot", role_ids=[str(keeper.id)]).json()
    assert client_token(client, body["client_id"], body["client_secret"] + "x").status_code == 401
    access = client_token(client, body["client_id"], body["client_secret"]).json()["access_token"]
    assert client.get("/service-accounts", headers=bearer(access)).status_code == 200

    revoked = client.delete(f"/service-accounts/{body['id']}", headers=bearer(owner_token))
    assert revoked.status_code == 204
    after = client.get("/service-accounts", headers=bearer(access))
    assert after.status_code == 401
    assert after.json()["error_description"] == "user is disabled"
    assert client_token(client, body["client_id"], body["client_secret"]).status_code == 401
    shown = client.get(f"/service-accounts/{body['id']}", headers=bearer(owner_token)).json()
    assert shown["revoked_at"] is not None


def test_no_escalation_through_a_service_account(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    keymaster = RoleFactory(tenant=acme.tenant, scopes=[Scope.API_KEYS_MANAGE, Scope.ME])
    user = UserFactory(tenant=acme.tenant, roles=[keymaster])
    db.commit()
    token = issue_token(user, ["api_keys:manage", "me"])
    owner_role = builtin_role(db, acme.tenant, "owner")
    response = create(client, token, name="sneaky", role_ids=[str(owner_role.id)])
    assert response.status_code == 403
    assert "users:write" in response.json()["missing_scopes"]
    allowed = create(client, token, name="modest", role_ids=[str(keymaster.id)])
    assert allowed.status_code == 201


def test_duplicate_name_and_unknown_role(client: TestClient, acme: Acme, owner_token: str) -> None:
    assert create(client, owner_token, name="robot").status_code == 201
    assert create(client, owner_token, name="robot").status_code == 409
    missing = create(
        client, owner_token, name="other", role_ids=["0" * 8 + "-0000-0000-0000-" + "0" * 12]
    )
    assert missing.status_code == 404


def test_routes_need_the_api_keys_manage_scope(
    client: TestClient, acme: Acme, issue_token: IssueToken
) -> None:
    token = issue_token(acme.owner, ["me"])
    response = client.get("/service-accounts", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["scope"] == "api_keys:manage"
