"""POST /token, password grant, through HTTP against real PostgreSQL."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import Grant, Tenant, TenantStatus, User, UserStatus
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory

BAD_CREDENTIALS = {"error": "invalid_grant", "error_description": "invalid username or password"}


@pytest.fixture
def owner(db: Session) -> User:
    tenant = TenantFactory(slug="acme")
    user = UserFactory(
        tenant=tenant, email="Ada@Acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return user


def login(client: TestClient, username: str, password: str = DEFAULT_PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/token",
        data={"grant_type": "password", "username": username, "password": password, **extra},
    )


def test_owner_logs_in_with_slug_slash_email(
    client: TestClient, owner: User, settings: Settings
) -> None:
    response = login(client, "acme/ada@acme.test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds
    assert set(body["scope"].split()) == TENANT_SCOPES
    assert response.headers["cache-control"] == "no-store"

    claims = jwt.decode(
        body["access_token"],
        settings.signing_secret(),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["sub"] == str(owner.id)
    assert claims["tid"] == str(owner.tenant_id)
    assert claims["ver"] == owner.token_version
    assert claims["scope"] == body["scope"]
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"


def test_tenant_may_be_named_in_its_own_field(client: TestClient, owner: User) -> None:
    response = login(client, "ADA@acme.test", tenant="acme")
    assert response.status_code == 200, response.text


def test_login_records_last_login(client: TestClient, owner: User, db: Session) -> None:
    assert owner.last_login_at is None
    assert login(client, "acme/ada@acme.test").status_code == 200
    db.refresh(owner)
    assert owner.last_login_at is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("acme/ada@acme.test", "wrong password entirely"),
        ("acme/nobody@acme.test", DEFAULT_PASSWORD),
        ("nowhere/ada@acme.test", DEFAULT_PASSWORD),
    ],
    ids=["wrong-password", "unknown-user", "unknown-tenant"],
)
def test_bad_credentials_all_look_the_same(
    client: TestClient, owner: User, username: str, password: str
) -> None:
    response = login(client, username, password)
    assert response.status_code == 400
    assert response.json() == BAD_CREDENTIALS
    assert response.headers["cache-control"] == "no-store"


def test_user_of_another_tenant_cannot_log_in_here(
    client: TestClient, owner: User, db: Session
) -> None:
    TenantFactory(slug="globex")
    db.commit()
    assert login(client, "globex/ada@acme.test").json() == BAD_CREDENTIALS


def test_disabled_user_is_told_so_only_with_the_right_password(
    client: TestClient, owner: User, db: Session
) -> None:
    owner.status = UserStatus.DISABLED
    db.commit()
    response = login(client, "acme/ada@acme.test")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "user is disabled",
    }
    assert login(client, "acme/ada@acme.test", "wrong password entirely").json() == BAD_CREDENTIALS


def test_suspended_tenant_cannot_log_in(client: TestClient, owner: User, db: Session) -> None:
    tenant = db.get_one(Tenant, owner.tenant_id)
    tenant.status = TenantStatus.SUSPENDED
    db.commit()
    response = login(client, "acme/ada@acme.test")
    assert response.json()["error"] == "invalid_grant"
    assert "suspended" in response.json()["error_description"]


def test_requested_scopes_narrow_the_grant(
    client: TestClient, owner: User, settings: Settings
) -> None:
    response = login(client, "acme/ada@acme.test", scope="users:read me")
    assert response.status_code == 200
    assert response.json()["scope"] == "me users:read"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "me users:read"


def test_requested_scopes_never_widen_the_grant(client: TestClient, db: Session) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="m@acme.test", roles=[builtin_role(db, tenant, "member")])
    db.commit()
    response = login(client, "acme/m@acme.test", scope="me users:write")
    assert response.json()["scope"] == "me"
    refused = login(client, "acme/m@acme.test", scope="users:write")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


def test_unknown_scope_is_invalid_scope(client: TestClient, owner: User) -> None:
    response = login(client, "acme/ada@acme.test", scope="me users:everything")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "unknown scope(s): users:everything",
    }


def test_composite_roles_and_expired_grants(client: TestClient, db: Session) -> None:
    tenant = TenantFactory(slug="acme")
    reader = RoleFactory(tenant=tenant, scopes=[Scope.USERS_READ])
    lead = RoleFactory(tenant=tenant, scopes=[Scope.ROLES_READ], includes=[reader])
    UserFactory(tenant=tenant, email="lead@acme.test", roles=[lead])
    db.commit()
    assert login(client, "acme/lead@acme.test").json()["scope"] == "roles:read users:read"


def test_platform_scopes_are_never_granted_outside_the_platform_tenant(
    client: TestClient, db: Session
) -> None:
    tenant = TenantFactory(slug="acme")
    sneaky = RoleFactory(tenant=tenant, scopes=[Scope.TENANTS_WRITE, Scope.ME])
    UserFactory(tenant=tenant, email="s@acme.test", roles=[sneaky])
    platform = TenantFactory(slug="platform")
    operator = RoleFactory(tenant=platform, scopes=[Scope.TENANTS_WRITE])
    UserFactory(tenant=platform, email="op@platform.test", roles=[operator])
    db.commit()
    assert login(client, "acme/s@acme.test").json()["scope"] == "me"
    assert login(client, "platform/op@platform.test").json()["scope"] == "tenants:write"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"username": "acme/ada@acme.test", "password": "x"}, "invalid_request"),
        ({"grant_type": "password", "password": "x"}, "invalid_request"),
        (
            {"grant_type": "password", "username": "ada@acme.test", "password": "x"},
            "invalid_request",
        ),
        ({"grant_type": "implicit", "code": "x"}, "unsupported_grant_type"),
    ],
    ids=["no-grant-type", "no-username", "no-tenant", "unsupported-grant"],
)
def test_malformed_requests_get_rfc6749_errors(
    client: TestClient, owner: User, data: dict[str, str], error: str
) -> None:
    response = client.post("/token", data=data)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_json_body_is_not_a_token_request(client: TestClient, owner: User) -> None:
    response = client.post(
        "/token",
        json={
            "grant_type": "password",
            "username": "acme/ada@acme.test",
            "password": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("/token", {"username": "acme/ada\x00@acme.test"}, "username"),
        ("/token", {"username": "ada@acme.test", "tenant": "ac\x00me"}, "tenant"),
        ("/token", {"username": "acme/" + "a" * 1000 + "@acme.test"}, "username"),
        ("/token", {"password": "x" * 5000}, "password"),
        ("/revoke", {"token": "rt_\x00"}, "token"),
        ("/revoke", {"token": "x" * 10_000}, "token"),
    ],
    ids=["nul-username", "nul-tenant", "long-username", "long-password", "nul-token", "long"],
)
def test_what_the_framework_refuses_is_an_rfc6749_400_too(
    client: TestClient, owner: User, path: str, data: dict[str, str], field: str
) -> None:
    """NUL, or a value past its bound, in a form field: RFC 6749 §5.2, never a 422."""
    form = {"grant_type": "password", "username": "acme/ada@acme.test", "password": "x"}
    response = client.post(path, data={**form, **data} if path == "/token" else data)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert field in response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"


def test_the_oauth_endpoints_document_no_422(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "422" not in paths["/token"]["post"]["responses"]
    assert "422" not in paths["/revoke"]["post"]["responses"]
    assert "400" in paths["/token"]["post"]["responses"]


def test_scopes_come_from_the_whole_role_closure_and_only_unexpired_grants(
    client: TestClient, db: Session
) -> None:
    """A chain three deep, a diamond, and a grant that has run out."""
    tenant = TenantFactory(slug="acme")
    base = RoleFactory(tenant=tenant, scopes=[Scope.USERS_READ])
    left = RoleFactory(tenant=tenant, scopes=[Scope.ROLES_READ], includes=[base])
    right = RoleFactory(tenant=tenant, scopes=[Scope.AUDIT_READ], includes=[base])
    top = RoleFactory(tenant=tenant, scopes=[], includes=[left, right])
    lapsed = RoleFactory(tenant=tenant, scopes=[Scope.USERS_WRITE])
    user = UserFactory(tenant=tenant, email="lead@acme.test", roles=[top])
    db.add(
        Grant(
            tenant_id=tenant.id,
            user_id=user.id,
            role_id=lapsed.id,
            granted_at=datetime.now(UTC) - timedelta(days=2),
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
    )
    db.commit()
    body = login(client, "acme/lead@acme.test").json()
    assert body["scope"] == "audit:read roles:read users:read"


def test_email_matches_whatever_its_case(client: TestClient, owner: User) -> None:
    response = login(client, "acme/" + owner.email.upper())
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(owner.id)


def test_access_token_carries_the_users_current_token_version(
    client: TestClient, owner: User, db: Session
) -> None:
    owner.token_version = 7
    db.commit()
    body = login(client, "acme/" + owner.email).json()
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["ver"] == 7
