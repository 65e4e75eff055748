"""Refresh rotation, reuse detection, grace window, revocation and sessions, over HTTP."""

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from backend.db.models import (
    AuditEvent,
    Grant,
    LoginSession,
    RefreshToken,
    RoleInclude,
    Tenant,
    TenantStatus,
    User,
    UserStatus,
)
from backend.domain.scopes import Scope
from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme")
    member = UserFactory(
        tenant=tenant,
        email="ann@acme.test",
        roles=[builtin_role(db, tenant, "member"), builtin_role(db, tenant, "auditor")],
    )
    db.commit()
    return member


def login(client: TestClient, **extra: str) -> dict[str, str]:
    response = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/ann@acme.test",
            "password": DEFAULT_PASSWORD,
            **extra,
        },
        headers={"User-Agent": "pytest-browser/1.0"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def refresh(client: TestClient, token: str, **extra: str) -> httpx.Response:
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


def live_tokens(db: Session, family_id: object) -> int:
    db.expire_all()
    return int(
        db.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(
                RefreshToken.family_id == family_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
        )
        or 0
    )


def family_of(db: Session, token: str) -> LoginSession:
    digest = hashlib.sha256(token.encode()).digest()
    db.expire_all()
    row = db.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest)).one()
    return db.get_one(LoginSession, (row.tenant_id, row.family_id))


@pytest.fixture
def no_grace(settings: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings.model_copy(update={"refresh_reuse_grace_seconds": 0}))
    ) as client:
        yield client


def test_login_returns_an_opaque_refresh_token_stored_only_as_a_hash(
    client: TestClient, user: User, db: Session
) -> None:
    body = login(client)
    token = body["refresh_token"]
    assert token.startswith("rt_")
    assert len(token.split("_", 2)[2]) == 43  # 256 bits, base64url
    stored = db.scalars(select(RefreshToken)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).digest()
    assert stored.scope == body["scope"]


def test_refresh_rotates_and_the_old_token_stops_working(
    no_grace: TestClient, user: User, db: Session
) -> None:
    first = login(no_grace)["refresh_token"]
    rotated = refresh(no_grace, first)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["refresh_token"] != first
    assert body["token_type"] == "bearer"
    assert no_grace.get("/me", headers=bearer(body["access_token"])).status_code == 200
    assert live_tokens(db, family_of(db, first).id) == 1

    reused = refresh(no_grace, first)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_reuse_revokes_the_whole_family_and_is_audited(
    no_grace: TestClient, user: User, db: Session
) -> None:
    first = login(no_grace)["refresh_token"]
    second = refresh(no_grace, first).json()["refresh_token"]
    assert refresh(no_grace, first).status_code == 400  # the thief, or a stale tab
    # The family is gone: even the legitimate latest token is refused now.
    after = refresh(no_grace, second)
    assert after.status_code == 400
    assert "ended" in after.json()["error_description"]
    family = family_of(db, first)
    assert family.revoked_reason == "reuse_detected"
    assert live_tokens(db, family.id) == 0
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "token.reuse_detected")).all()
    assert [e.target for e in events] == [f"session:{family.id}"]
    assert first not in str(events[0].data)
    assert second not in str(events[0].data)


def test_immediate_repeat_within_grace_gets_the_same_successor(
    client: TestClient, user: User, db: Session
) -> None:
    first = login(client)["refresh_token"]
    a = refresh(client, first)
    b = refresh(client, first)  # a retried request, or a second tab
    assert a.status_code == b.status_code == 200
    assert a.json()["refresh_token"] == b.json()["refresh_token"]
    family = family_of(db, first)
    assert family.revoked_at is None
    assert live_tokens(db, family.id) == 1
    assert refresh(client, b.json()["refresh_token"]).status_code == 200


def test_grace_covers_only_the_immediately_preceding_token(
    client: TestClient, user: User, db: Session
) -> None:
    first = login(client)["refresh_token"]
    second = refresh(client, first).json()["refresh_token"]
    refresh(client, second)
    assert refresh(client, first).status_code == 400
    assert family_of(db, first).revoked_reason == "reuse_detected"


def test_repeat_after_the_grace_window_is_reuse(
    client: TestClient, user: User, db: Session
) -> None:
    first = login(client)["refresh_token"]
    refresh(client, first)
    digest = hashlib.sha256(first.encode()).digest()
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == digest)
        .values(used_at=datetime.now(UTC) - timedelta(seconds=11))
    )
    db.commit()
    assert refresh(client, first).status_code == 400
    assert family_of(db, first).revoked_reason == "reuse_detected"


def test_concurrent_refreshes_share_one_successor(
    client: TestClient, user: User, db: Session
) -> None:
    first = login(client)["refresh_token"]
    results: list[httpx.Response] = []
    barrier = threading.Barrier(4)

    def go() -> None:
        barrier.wait()
        results.append(refresh(client, first))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.status_code for r in results] == [200] * 4
    assert len({r.json()["refresh_token"] for r in results}) == 1
    assert live_tokens(db, family_of(db, first).id) == 1


def test_refresh_may_narrow_but_never_widen(client: TestClient, user: User) -> None:
    token = login(client, scope="me users:read")["refresh_token"]
    narrowed = refresh(client, token, scope="me")
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "me"
    # The session keeps the login's scope: a later refresh may ask for all of it again.
    again = refresh(client, narrowed.json()["refresh_token"])
    assert again.json()["scope"] == "me users:read"
    widened = refresh(client, again.json()["refresh_token"], scope="me audit:read")
    assert widened.status_code == 400
    assert widened.json()["error"] == "invalid_scope"


def test_new_access_token_reflects_current_roles(
    client: TestClient, user: User, db: Session
) -> None:
    token = login(client)["refresh_token"]
    auditor = builtin_role(db, db.get_one(Tenant, user.tenant_id), "auditor")
    db.execute(delete(Grant).where(Grant.user_id == user.id, Grant.role_id == auditor.id))
    db.commit()
    body = refresh(client, token).json()
    assert body["scope"] == "me"
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["scope"] == "me"


def test_disabled_user_cannot_refresh(client: TestClient, user: User, db: Session) -> None:
    token = login(client)["refresh_token"]
    user.status = UserStatus.DISABLED
    db.commit()
    response = refresh(client, token)
    assert response.status_code == 400
    assert response.json()["error_description"] == "user is disabled"


def test_idle_and_absolute_expiry(client: TestClient, user: User, db: Session) -> None:
    idle = login(client)["refresh_token"]
    db.execute(update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.commit()
    assert "expired" in refresh(client, idle).json()["error_description"]

    absolute = login(client)["refresh_token"]
    db.execute(
        update(LoginSession)
        .where(LoginSession.id == family_of(db, absolute).id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()
    assert "expired" in refresh(client, absolute).json()["error_description"]


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "rt_" + "0" * 32 + "_" + "A" * 43, "ak_" + "0" * 32 + "_" + "A" * 43],
    ids=["empty", "garbage", "unknown", "wrong-kind"],
)
def test_bad_refresh_tokens(client: TestClient, user: User, token: str) -> None:
    response = refresh(client, token)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}


def test_an_access_token_is_not_a_refresh_token(client: TestClient, user: User) -> None:
    access = login(client)["access_token"]
    assert refresh(client, access).json()["error"] == "invalid_grant"


def test_a_refresh_token_is_not_an_access_token(client: TestClient, user: User) -> None:
    token = login(client)["refresh_token"]
    assert client.get("/me", headers=bearer(token)).status_code == 401


def test_revoke_ends_the_session(client: TestClient, user: User, db: Session) -> None:
    token = login(client)["refresh_token"]
    response = client.post("/revoke", data={"token": token, "token_type_hint": "refresh_token"})
    assert response.status_code == 200
    assert refresh(client, token).status_code == 400
    assert family_of(db, token).revoked_reason == "revoked_by_client"


@pytest.mark.parametrize("token", ["unknown", "rt_" + "1" * 32 + "_" + "B" * 43])
def test_revoke_answers_200_for_unknown_tokens(client: TestClient, token: str) -> None:
    assert client.post("/revoke", data={"token": token}).status_code == 200


def test_revoke_needs_a_token(client: TestClient) -> None:
    response = client.post("/revoke", data={})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_sessions_are_listed_and_can_be_ended(client: TestClient, user: User) -> None:
    first, second = login(client), login(client)
    headers = bearer(first["access_token"])
    sessions = client.get("/me/sessions", headers=headers).json()
    assert len(sessions) == 2
    assert {s["user_agent"] for s in sessions} == {"pytest-browser/1.0"}
    newest = sessions[0]
    assert client.delete(f"/me/sessions/{newest['id']}", headers=headers).status_code == 204
    assert [s["id"] for s in client.get("/me/sessions", headers=headers).json()] == [
        sessions[1]["id"]
    ]
    assert refresh(client, second["refresh_token"]).status_code == 400
    assert refresh(client, first["refresh_token"]).status_code == 200
    again = client.delete(f"/me/sessions/{newest['id']}", headers=headers)
    assert again.status_code == 404


def test_suspended_tenant_cannot_refresh(client: TestClient, user: User, db: Session) -> None:
    token = login(client)["refresh_token"]
    db.get_one(Tenant, user.tenant_id).status = TenantStatus.SUSPENDED
    db.commit()
    response = refresh(client, token)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "tenant is suspended",
    }


def test_refresh_drops_scopes_of_a_role_no_longer_included(
    client: TestClient, user: User, db: Session
) -> None:
    tenant = db.get_one(Tenant, user.tenant_id)
    writer = RoleFactory(tenant=tenant, scopes=[Scope.USERS_WRITE])
    lead = RoleFactory(tenant=tenant, scopes=[Scope.ROLES_WRITE], includes=[writer])
    db.add(Grant(tenant_id=tenant.id, user_id=user.id, role_id=lead.id))
    db.commit()
    body = login(client)
    assert "users:write" in body["scope"].split()
    token = body["refresh_token"]
    db.execute(delete(RoleInclude).where(RoleInclude.role_id == lead.id))
    db.commit()
    scopes = refresh(client, token).json()["scope"].split()
    assert "roles:write" in scopes
    assert "users:write" not in scopes


def test_refreshed_access_token_carries_the_current_token_version(
    client: TestClient, user: User, db: Session
) -> None:
    token = login(client)["refresh_token"]
    user.token_version += 5
    db.commit()
    body = refresh(client, token).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["ver"] == user.token_version


def test_a_refresh_token_names_its_tenant_and_works_in_no_other(
    client: TestClient, user: User, db: Session
) -> None:
    """The lookup is bound to the tenant written in the token: put another tenant's id
    there and the same secret is unknown, and the real session is left alone."""
    token = login(client)["refresh_token"]
    other = TenantFactory(slug="globex")
    db.commit()
    kind, _, secret = token.split("_", 2)
    forged = f"{kind}_{other.id.hex}_{secret}"
    assert refresh(client, forged).json() == {
        "error": "invalid_grant",
        "error_description": "refresh token is invalid",
    }
    assert refresh(client, token).status_code == 200


def test_reuse_after_a_narrowed_refresh_still_ends_the_session(
    no_grace: TestClient, user: User, db: Session
) -> None:
    first = login(no_grace)["refresh_token"]
    second = refresh(no_grace, first, scope="me").json()["refresh_token"]
    replay = refresh(no_grace, first)
    assert replay.json()["error_description"] == (
        "refresh token was already used; the session is ended"
    )
    assert refresh(no_grace, second).json()["error_description"] == "this session has been ended"
    family = family_of(db, second)
    assert family.revoked_reason == "reuse_detected"
    assert live_tokens(db, family.id) == 0
