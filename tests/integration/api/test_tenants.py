"""Platform operators over HTTP: creating, listing, renaming, suspending tenants."""

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import (
    AuditEvent,
    LoginSession,
    RefreshToken,
    Tenant,
    TenantStatus,
    User,
)
from backend.domain.scopes import PLATFORM_SCOPES, TENANT_SCOPES, Scope
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory
from tests.support.cursors import raw_cursor
from tests.support.platform import create_operator

IssueToken = Callable[..., str]
ADMIN_PASSWORD = "violet otters juggle lanterns"
OWNER_PASSWORD = "amber heron crosses rivers"


@dataclass(frozen=True)
class Platform:
    tenant: Tenant
    admin: User
    token: str


def password_login(
    client: TestClient, username: str, password: str, **extra: str
) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "password", "username": username, "password": password, **extra},
    )


def access_token(client: TestClient, username: str, password: str, **extra: str) -> str:
    response = password_login(client, username, password, **extra)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def platform(client: TestClient, db: Session, effects: Effects, settings: Settings) -> Platform:
    """The platform tenant and its admin, made as `tessera create-platform-admin` does,
    with a real login token."""
    admin = create_operator(db, effects, settings, ADMIN_PASSWORD)
    token = access_token(client, "platform/ops@platform.test", ADMIN_PASSWORD)
    return Platform(tenant=db.get_one(Tenant, admin.tenant_id), admin=admin, token=token)


@pytest.fixture
def acme(db: Session) -> User:
    """An ordinary tenant and its owner, password DEFAULT_PASSWORD."""
    tenant = TenantFactory(slug="acme", name="Acme")
    owner = UserFactory(
        tenant=tenant, email="boss@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return owner


def create(client: TestClient, token: str, **body: object) -> httpx.Response:
    return client.post("/tenants", headers=bearer(token), json=body)


def events(db: Session, log: object, action: str, tenant: object) -> list[AuditEvent]:
    """The events of one tenant's log about one tenant."""
    return list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == log,
                AuditEvent.action == action,
                AuditEvent.target == f"tenant:{tenant}",
            )
        )
    )


def test_the_platform_admin_logs_in_with_every_scope(
    client: TestClient, platform: Platform
) -> None:
    response = password_login(client, "platform/ops@platform.test", ADMIN_PASSWORD)
    assert set(response.json()["scope"].split()) == {s.value for s in Scope}
    assert PLATFORM_SCOPES <= set(response.json()["scope"].split())
    me = client.get("/me", headers=bearer(platform.token)).json()
    assert me["roles"] == ["owner", "platform-admin"]


def test_create_a_tenant_whose_owner_can_log_in(
    client: TestClient, platform: Platform, db: Session
) -> None:
    response = create(
        client,
        platform.token,
        slug="acme",
        name="Acme Inc",
        owner={"email": "boss@acme.test", "password": OWNER_PASSWORD},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == "acme"
    assert body["name"] == "Acme Inc"
    assert body["status"] == "active"
    assert body["owner"]["email"] == "boss@acme.test"
    assert body["owner"]["invitation"] is None
    assert OWNER_PASSWORD not in response.text

    token = access_token(client, "acme/boss@acme.test", OWNER_PASSWORD)
    me = client.get("/me", headers=bearer(token)).json()
    assert me["roles"] == ["owner"]
    assert me["tenant"]["id"] == body["id"]
    assert set(me["scopes"]) == {s.value for s in TENANT_SCOPES}

    # Audited in the new tenant's log and in the platform's, by the operator.
    for log in (body["id"], platform.tenant.id):
        (event,) = events(db, log, "tenant.created", body["id"])
        assert event.actor == f"user:{platform.admin.id}"
        assert event.target == f"tenant:{body['id']}"
        assert event.data["after"] == {"slug": "acme", "name": "Acme Inc", "status": "active"}
        assert event.data["owner"]["email"] == "boss@acme.test"
        assert OWNER_PASSWORD not in str(event.data)


def test_an_invited_owner_sets_a_password_then_logs_in(
    client: TestClient, platform: Platform
) -> None:
    response = create(
        client,
        platform.token,
        slug="acme",
        name="Acme",
        owner={"email": "boss@acme.test", "invite": True},
    )
    assert response.status_code == 201, response.text
    invitation = response.json()["owner"]["invitation"]
    assert invitation["token"]
    assert password_login(client, "acme/boss@acme.test", OWNER_PASSWORD).status_code == 400

    accepted = client.post(
        "/invitations/accept", json={"token": invitation["token"], "password": OWNER_PASSWORD}
    )
    assert accepted.status_code == 204, accepted.text
    assert password_login(client, "acme/boss@acme.test", OWNER_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"slug": "Bad_Slug", "owner": {"email": "a@x.test", "password": OWNER_PASSWORD}},
         422, "use 2-63 characters of a-z, 0-9 and '-'"),
        ({"slug": "fine", "owner": {"email": "a@x.test", "password": "short"}},
         422, "at least 12 characters"),
        ({"slug": "acme", "owner": {"email": "a@x.test", "password": OWNER_PASSWORD}},
         409, "tenant 'acme' already exists"),
    ],
    ids=["bad-slug", "weak-password", "slug-taken"],
)  # fmt: skip
def test_bad_creations_are_refused_with_a_reason(
    client: TestClient,
    platform: Platform,
    acme: User,
    body: dict[str, object],
    status: int,
    reason: str,
    db: Session,
) -> None:
    response = create(client, platform.token, name="X", **body)
    assert response.status_code == status, response.text
    assert reason in response.json()["error_description"]
    assert db.scalars(select(Tenant.slug).order_by(Tenant.slug)).all() == ["acme", "platform"]


def test_the_owner_needs_a_password_or_an_invitation_not_both(
    client: TestClient, platform: Platform
) -> None:
    for owner in (
        {"email": "a@x.test"},
        {"email": "a@x.test", "password": OWNER_PASSWORD, "invite": True},
    ):
        response = create(client, platform.token, slug="x-corp", name="X", owner=owner)
        assert response.status_code == 422
        assert "either a password or invite" in response.text


def test_list_pages_by_slug_and_filters_by_status(
    client: TestClient, platform: Platform, db: Session
) -> None:
    for slug in ("delta", "alpha", "charlie", "bravo"):
        TenantFactory(slug=slug)
    TenantFactory(slug="echo", status=TenantStatus.SUSPENDED)
    db.commit()

    slugs: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/tenants", headers=bearer(platform.token), params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        slugs += [t["slug"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert slugs == ["alpha", "bravo", "charlie", "delta", "echo", "platform"]

    suspended = client.get(
        "/tenants", headers=bearer(platform.token), params={"status": "suspended"}
    ).json()
    assert [t["slug"] for t in suspended["items"]] == ["echo"]
    assert suspended["next_cursor"] is None

    bad = client.get("/tenants", headers=bearer(platform.token), params={"cursor": "nope"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        (raw_cursor(["users", "acme"]), "not one of the tenants listing's"),
        (raw_cursor(["tenants", "acme", "extra"]), "not one of the tenants listing's"),
        (raw_cursor(["tenants", "\udfff"]), "its slug holds a NUL or a lone surrogate"),
        (raw_cursor(["tenants", "a\u0000"]), "its slug holds a NUL or a lone surrogate"),
    ],
    ids=["another-listing", "long-key", "lone-surrogate", "nul"],
)
def test_a_bad_tenants_cursor_is_400_with_the_reason(
    client: TestClient, platform: Platform, cursor: str, reason: str
) -> None:
    response = client.get("/tenants", headers=bearer(platform.token), params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error_description"] == f"cursor is not valid: {reason}"


def test_get_one_tenant_and_an_unknown_id(
    client: TestClient, platform: Platform, acme: User
) -> None:
    response = client.get(f"/tenants/{acme.tenant_id}", headers=bearer(platform.token))
    assert response.status_code == 200, response.text
    assert response.json()["slug"] == "acme"
    unknown = client.get(f"/tenants/{platform.admin.id}", headers=bearer(platform.token))
    assert unknown.status_code == 404


def test_rename_changes_the_name_only_and_is_audited(
    client: TestClient, platform: Platform, acme: User, db: Session
) -> None:
    url = f"/tenants/{acme.tenant_id}"
    response = client.patch(url, headers=bearer(platform.token), json={"name": "Acme Corp"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Acme Corp"
    for log in (acme.tenant_id, platform.tenant.id):
        (event,) = events(db, log, "tenant.renamed", acme.tenant_id)
        assert event.data["before"] == {"name": "Acme"}
        assert event.data["after"] == {"name": "Acme Corp"}
        assert event.actor == f"user:{platform.admin.id}"

    slug = client.patch(url, headers=bearer(platform.token), json={"name": "A", "slug": "acme2"})
    assert slug.status_code == 422
    assert "slug cannot be changed" in slug.text
    assert client.get(url, headers=bearer(platform.token)).json()["slug"] == "acme"


def test_suspension_cuts_a_tenant_off_at_once_and_reactivation_restores_logins(
    client: TestClient, platform: Platform, acme: User, db: Session
) -> None:
    login = password_login(client, "acme/boss@acme.test", DEFAULT_PASSWORD)
    assert login.status_code == 200, login.text
    access, refresh = login.json()["access_token"], login.json()["refresh_token"]
    # Warm the principal cache, so the refusal below proves it is dropped too.
    assert client.get("/me", headers=bearer(access)).status_code == 200

    url = f"/tenants/{acme.tenant_id}"
    suspended = client.post(f"{url}/suspend", headers=bearer(platform.token))
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"

    me = client.get("/me", headers=bearer(access))
    assert me.status_code == 401
    assert me.json()["error_description"] == "tenant is suspended"
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    refused = password_login(client, "acme/boss@acme.test", DEFAULT_PASSWORD)
    assert refused.status_code == 400
    assert refused.json()["error_description"] == "tenant is suspended"

    db.expire_all()
    family = db.scalars(select(LoginSession).where(LoginSession.tenant_id == acme.tenant_id)).one()
    assert family.revoked_reason == "tenant_suspended"
    tokens = db.scalars(select(RefreshToken).where(RefreshToken.tenant_id == acme.tenant_id))
    assert {t.revoked_reason for t in tokens} == {"tenant_suspended"}
    for log in (acme.tenant_id, platform.tenant.id):
        (event,) = events(db, log, "tenant.suspended", acme.tenant_id)
        assert event.data["before"] == {"status": "active"}
        assert event.data["after"] == {"status": "suspended"}
        assert event.data["sessions_revoked"] == 1
        assert event.actor == f"user:{platform.admin.id}"

    # A second suspension changes nothing and records nothing.
    assert client.post(f"{url}/suspend", headers=bearer(platform.token)).status_code == 200
    assert len(events(db, acme.tenant_id, "tenant.suspended", acme.tenant_id)) == 1

    reactivated = client.post(f"{url}/reactivate", headers=bearer(platform.token))
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["status"] == "active"
    assert password_login(client, "acme/boss@acme.test", DEFAULT_PASSWORD).status_code == 200
    # Sessions the suspension ended stay ended.
    again = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert again.status_code == 400
    for log in (acme.tenant_id, platform.tenant.id):
        (event,) = events(db, log, "tenant.reactivated", acme.tenant_id)
        assert event.data["after"] == {"status": "active"}


def test_the_platform_tenant_cannot_be_suspended(
    client: TestClient, platform: Platform, db: Session
) -> None:
    response = client.post(f"/tenants/{platform.tenant.id}/suspend", headers=bearer(platform.token))
    assert response.status_code == 409
    assert "platform tenant cannot be suspended" in response.json()["error_description"]
    assert client.get("/tenants", headers=bearer(platform.token)).status_code == 200


def test_a_token_narrowed_to_tenants_read_cannot_write(
    client: TestClient, platform: Platform, acme: User
) -> None:
    reader = access_token(
        client, "platform/ops@platform.test", ADMIN_PASSWORD, scope="tenants:read"
    )
    assert client.get("/tenants", headers=bearer(reader)).status_code == 200
    response = client.post(f"/tenants/{acme.tenant_id}/suspend", headers=bearer(reader))
    assert response.status_code == 403
    assert response.json()["scope"] == "tenants:write"


PLATFORM_ROUTES = [
    ("GET", "/tenants"),
    ("POST", "/tenants"),
    ("GET", "/tenants/{id}"),
    ("PATCH", "/tenants/{id}"),
    ("POST", "/tenants/{id}/suspend"),
    ("POST", "/tenants/{id}/reactivate"),
]


@pytest.mark.parametrize(("method", "path"), PLATFORM_ROUTES)
def test_an_ordinary_tenants_owner_gets_403_everywhere(
    client: TestClient, platform: Platform, acme: User, method: str, path: str
) -> None:
    token = access_token(client, "acme/boss@acme.test", DEFAULT_PASSWORD)
    url = path.replace("{id}", str(platform.tenant.id))
    response = client.request(method, url, headers=bearer(token), json={"name": "x"})
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"


def test_a_token_claiming_platform_scopes_outside_the_platform_tenant_is_refused(
    client: TestClient, platform: Platform, acme: User, issue_token: IssueToken
) -> None:
    # No login can mint this (platform scopes are dropped outside the platform tenant);
    # the service refuses it anyway, as if the scope were missing.
    forged = issue_token(acme, sorted(Scope))
    response = client.get("/tenants", headers=bearer(forged))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert "platform" not in response.text


def test_platform_scopes_in_an_ordinary_tenants_role_grant_nothing(
    client: TestClient, platform: Platform, db: Session
) -> None:
    tenant = TenantFactory(slug="acme")
    smuggled = RoleFactory(tenant=tenant, name="operator", scopes=["me", "tenants:write"])
    UserFactory(tenant=tenant, email="eve@acme.test", roles=[smuggled])
    db.commit()

    login = password_login(client, "acme/eve@acme.test", DEFAULT_PASSWORD)
    assert login.status_code == 200, login.text
    assert login.json()["scope"] == "me"
    asked = password_login(client, "acme/eve@acme.test", DEFAULT_PASSWORD, scope="tenants:write")
    assert asked.status_code == 400
    assert asked.json()["error"] == "invalid_scope"

    token = login.json()["access_token"]
    assert "tenants:write" not in client.get("/me", headers=bearer(token)).json()["scopes"]
    assert client.get("/tenants", headers=bearer(token)).status_code == 403
    denied = client.post(f"/tenants/{tenant.id}/suspend", headers=bearer(token))
    assert denied.status_code == 403
