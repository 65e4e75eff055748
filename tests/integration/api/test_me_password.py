"""PATCH /me/password over HTTP: verify, apply the policy, cut off old tokens and sessions."""

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Tenant, User
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory

NEW = "saffron walrus hums at dawn"
THRESHOLD = 3


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme", policy={"lockout_threshold": THRESHOLD})
    member = UserFactory(
        tenant=tenant, email="lu@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return member


def login(client: TestClient, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "password", "username": "acme/lu@acme.test", "password": password},
    )


def refresh(client: TestClient, refresh_token: str) -> httpx.Response:
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def change(client: TestClient, access_token: str, **body: str) -> httpx.Response:
    return client.patch("/me/password", headers=bearer(access_token), json=body)


def audit_events(db: Session, action: str) -> list[AuditEvent]:
    db.expire_all()
    # Oldest first: each request commits its own transaction, so `at` orders them.
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.at)
    return list(db.scalars(query))


def test_change_kills_old_tokens_and_other_sessions_but_keeps_the_named_one(
    client: TestClient, user: User, db: Session
) -> None:
    here = login(client).json()
    elsewhere = login(client).json()
    response = change(
        client,
        here["access_token"],
        current_password=DEFAULT_PASSWORD,
        new_password=NEW,
        refresh_token=here["refresh_token"],
    )
    assert response.status_code == 204, response.text

    for grant in (here, elsewhere):
        assert client.get("/me", headers=bearer(grant["access_token"])).status_code == 401
    assert refresh(client, elsewhere["refresh_token"]).json()["error"] == "invalid_grant"
    renewed = refresh(client, here["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert client.get("/me", headers=bearer(renewed.json()["access_token"])).status_code == 200

    assert login(client).status_code == 400
    assert login(client, NEW).status_code == 200
    [event] = audit_events(db, "user.password_changed")
    assert (event.actor, event.target) == (f"user:{user.id}", f"user:{user.id}")
    assert event.data == {"sessions_ended": 1, "session_kept": True}


def test_without_a_refresh_token_every_session_ends(
    client: TestClient, user: User, db: Session
) -> None:
    grant = login(client).json()
    response = change(
        client, grant["access_token"], current_password=DEFAULT_PASSWORD, new_password=NEW
    )
    assert response.status_code == 204
    assert refresh(client, grant["refresh_token"]).json()["error"] == "invalid_grant"
    assert audit_events(db, "user.password_changed")[0].data["sessions_ended"] == 1


def test_a_wrong_current_password_is_400_and_counts_towards_the_lockout(
    client: TestClient, user: User, db: Session
) -> None:
    token = login(client).json()["access_token"]
    for attempt in range(1, THRESHOLD):
        response = change(client, token, current_password="a wrong guess", new_password=NEW)
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_request",
            "error_description": "current password is incorrect",
        }
        db.expire_all()
        assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == attempt
    assert len(audit_events(db, "user.password_change_failed")) == THRESHOLD - 1
    # The guess that reaches the threshold locks the account, not the token.
    change(client, token, current_password="a wrong guess", new_password=NEW)
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert len(audit_events(db, "user.locked")) == 1


def test_while_locked_no_current_password_is_checked(
    client: TestClient, user: User, db: Session
) -> None:
    token = login(client).json()["access_token"]
    stored = user.password_hash
    for _ in range(THRESHOLD):
        change(client, token, current_password="a wrong guess", new_password=NEW)

    # The right password and a wrong one get the same answer, so a stolen token is no
    # oracle while the lock lasts; the principal is signed in as the account, so it may
    # say why.
    answers = [
        change(client, token, current_password=current, new_password=NEW)
        for current in (DEFAULT_PASSWORD, "another wrong guess")
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"] == "invalid_request"
    assert "too many wrong passwords" in answers[0].json()["error_description"]
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).password_hash == stored
    reasons = [e.data["reason"] for e in audit_events(db, "user.password_change_failed")]
    assert reasons[-2:] == ["locked", "locked"]


def test_a_weak_new_password_is_422_and_changes_nothing(
    client: TestClient, user: User, db: Session
) -> None:
    grant = login(client).json()
    for weak, reason in [("short", "at least 12"), ("Password1234", "too common")]:
        response = change(
            client, grant["access_token"], current_password=DEFAULT_PASSWORD, new_password=weak
        )
        assert response.status_code == 422
        assert reason in response.json()["error_description"]
    assert client.get("/me", headers=bearer(grant["access_token"])).status_code == 200
    assert refresh(client, grant["refresh_token"]).status_code == 200
    assert audit_events(db, "user.password_changed") == []


def test_the_tenants_minimum_length_applies(client: TestClient, user: User, db: Session) -> None:
    db.get_one(Tenant, user.tenant_id).policy = {"password_min_length": 40}
    db.commit()
    token = login(client).json()["access_token"]
    response = change(client, token, current_password=DEFAULT_PASSWORD, new_password=NEW)
    assert response.status_code == 422
    assert response.json()["error_description"] == "password must be at least 40 characters"


@pytest.mark.parametrize("refresh_token", ["garbage", "rt_" + "0" * 32 + "_" + "A" * 43])
def test_a_refresh_token_not_of_a_live_session_of_yours_is_400(
    client: TestClient, user: User, refresh_token: str
) -> None:
    grant = login(client).json()
    response = change(
        client,
        grant["access_token"],
        current_password=DEFAULT_PASSWORD,
        new_password=NEW,
        refresh_token=refresh_token,
    )
    assert response.status_code == 400
    assert client.get("/me", headers=bearer(grant["access_token"])).status_code == 200


def test_another_users_refresh_token_is_refused(
    client: TestClient, user: User, db: Session
) -> None:
    UserFactory(tenant=db.get_one(Tenant, user.tenant_id), email="mo@acme.test")
    db.commit()
    theirs = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/mo@acme.test",
            "password": DEFAULT_PASSWORD,
        },
    ).json()
    mine = login(client).json()
    response = change(
        client,
        mine["access_token"],
        current_password=DEFAULT_PASSWORD,
        new_password=NEW,
        refresh_token=theirs["refresh_token"],
    )
    assert response.status_code == 400
    assert refresh(client, theirs["refresh_token"]).status_code == 200
