"""The guard (RFC 6750) and GET /me, through HTTP against real PostgreSQL."""

import time
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import Grant, TenantStatus, User, UserStatus
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.main import create_app
from backend.services import cutoff, tenants, user_admin
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


@pytest.fixture
def member(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name="Acme Inc")
    auditor = builtin_role(db, tenant, "auditor")
    user = UserFactory(tenant=tenant, email="m@acme.test", full_name="Mo", roles=[auditor])
    db.commit()
    return user


def assert_invalid_token(response, description: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    if description is not None:
        assert response.json()["error_description"] == description


def test_me_returns_the_principal_with_tenant_roles_and_scopes(
    client: TestClient, member: User, issue_token: IssueToken
) -> None:
    response = client.get("/me", headers=bearer(issue_token(member, ["me"])))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(member.id)
    assert body["email"] == "m@acme.test"
    assert body["full_name"] == "Mo"
    assert body["tenant"] == {"id": str(member.tenant_id), "slug": "acme", "name": "Acme Inc"}
    assert body["roles"] == ["auditor"]
    assert Scope.USERS_READ in body["scopes"]
    assert Scope.USERS_WRITE not in body["scopes"]
    assert body["token_scopes"] == ["me"]


def test_login_then_me_end_to_end(client: TestClient, member: User) -> None:
    token = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/m@acme.test",
            "password": DEFAULT_PASSWORD,
        },
    ).json()["access_token"]
    assert client.get("/me", headers=bearer(token)).json()["id"] == str(member.id)


def test_no_token(client: TestClient) -> None:
    assert_invalid_token(
        client.get("/me"), "missing credentials: send a bearer token or an X-API-Key"
    )


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer a.b.c", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000],
)
def test_garbage_token(client: TestClient, authorization: str) -> None:
    assert_invalid_token(client.get("/me", headers={"Authorization": authorization}))


def test_expired_token(
    client: TestClient, member: User, issue_token: IssueToken, settings: Settings
) -> None:
    stale = issue_token(
        member, ["me"], now=int(time.time()) - settings.access_token_ttl_seconds - 60
    )
    assert_invalid_token(client.get("/me", headers=bearer(stale)), "token expired")


def test_wrong_signature(client: TestClient, member: User, issue_token: IssueToken) -> None:
    token = issue_token(member, ["me"])
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    forged = jwt.encode(claims, "not-the-server-key-" + "q" * 32, algorithm="HS256", headers=header)
    assert_invalid_token(client.get("/me", headers=bearer(forged)))


def test_missing_scope_is_403_with_the_needed_scope(
    client: TestClient, member: User, issue_token: IssueToken
) -> None:
    response = client.get("/me", headers=bearer(issue_token(member, ["users:read"])))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.json()["scope"] == "me"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"')
    assert 'scope="me"' in challenge


def test_user_disabled_after_issue_is_cut_off_at_once(
    client: TestClient, member: User, issue_token: IssueToken, db: Session, effects: Effects
) -> None:
    token = issue_token(member, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    user_admin.set_status(
        db, effects, member.tenant_id, member.id, UserStatus.DISABLED, reason="test"
    )
    db.commit()
    assert_invalid_token(client.get("/me", headers=bearer(token)), "user is disabled")


def test_token_with_an_old_version_is_refused(
    client: TestClient, member: User, issue_token: IssueToken, db: Session, effects: Effects
) -> None:
    token = issue_token(member, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    cutoff.users(db, effects, member.tenant_id, [member.id], reason=cutoff.Reason.PASSWORD_CHANGED)
    db.commit()
    db.refresh(member)
    assert_invalid_token(client.get("/me", headers=bearer(token)), "token has been revoked")
    assert client.get("/me", headers=bearer(issue_token(member, ["me"]))).status_code == 200


def test_suspended_tenant_is_cut_off(
    client: TestClient, member: User, issue_token: IssueToken, db: Session, effects: Effects
) -> None:
    token = issue_token(member, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    tenants.set_status(db, effects, member.tenant_id, TenantStatus.SUSPENDED)
    db.commit()
    assert_invalid_token(client.get("/me", headers=bearer(token)), "tenant is suspended")


def test_token_for_a_user_that_does_not_exist(
    client: TestClient, member: User, issue_token: IssueToken, db: Session
) -> None:
    ghost = User(id=member.id, tenant_id=TenantFactory().id, token_version=1)
    db.commit()
    assert_invalid_token(client.get("/me", headers=bearer(issue_token(ghost, ["me"]))))


def test_me_reflects_current_roles_not_the_token(
    client: TestClient, member: User, issue_token: IssueToken, db: Session
) -> None:
    extra = RoleFactory(tenant_id=member.tenant_id, scopes=[Scope.USERS_WRITE])
    token = issue_token(member, ["me"])
    db.add(Grant(tenant_id=member.tenant_id, user_id=member.id, role_id=extra.id))
    db.commit()
    body = client.get("/me", headers=bearer(token)).json()
    assert Scope.USERS_WRITE in body["scopes"]
    assert set(body["scopes"]) <= TENANT_SCOPES


def test_guard_falls_back_to_postgres_when_redis_is_down(
    member: User, issue_token: IssueToken, db: Session, effects: Effects, settings: Settings
) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    token = issue_token(member, ["me"])
    with TestClient(create_app(down)) as client:
        assert client.get("/me", headers=bearer(token)).status_code == 200
        user_admin.set_status(db, effects, member.tenant_id, member.id, UserStatus.DISABLED)
        db.commit()
        assert_invalid_token(client.get("/me", headers=bearer(token)), "user is disabled")
