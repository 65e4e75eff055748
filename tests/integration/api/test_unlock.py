"""POST /users/{id}/unlock over HTTP, and what admins see of a lockout: an administrator
lifts a pause or lock at once, audited once, in their own tenant only."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.concurrency import all_at_once

IssueToken = Callable[..., str]
THRESHOLD = 3
WRONG = "not the password at all"


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    owner: User
    ann: User
    token: str


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Acme:
    tenant = TenantFactory(slug="acme", policy={"lockout_threshold": THRESHOLD})
    owner = UserFactory(
        tenant=tenant, email="owner@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    ann = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return Acme(tenant, owner, ann, issue_token(owner, sorted(TENANT_SCOPES)))


def login(client: TestClient, password: str, slug: str = "acme") -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "password", "username": f"{slug}/ann@acme.test", "password": password},
    )


def lock(client: TestClient, slug: str = "acme") -> None:
    for _ in range(THRESHOLD):
        assert login(client, WRONG, slug).status_code == 400


def unlock(client: TestClient, token: str, user: User) -> httpx.Response:
    return client.post(f"/users/{user.id}/unlock", headers=bearer(token))


def unlocked_events(db: Session, user: User) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "user.unlocked", AuditEvent.target == f"user:{user.id}"
            )
        )
    )


def test_admins_see_the_lock_in_the_user_and_the_listing(client: TestClient, acme: Acme) -> None:
    lock(client)
    shown = client.get(f"/users/{acme.ann.id}", headers=bearer(acme.token)).json()
    assert shown["failed_logins"] == THRESHOLD
    assert datetime.fromisoformat(shown["locked_until"]) > datetime.fromisoformat(
        shown["created_at"]
    )
    [listed] = client.get(
        "/users", params={"email_prefix": "ann@"}, headers=bearer(acme.token)
    ).json()["items"]
    assert (listed["failed_logins"], listed["locked_until"]) == (
        THRESHOLD,
        shown["locked_until"],
    )


def test_unlock_lifts_the_lock_and_the_right_password_works_again(
    client: TestClient, acme: Acme, db: Session
) -> None:
    lock(client)
    locked_until = client.get(f"/users/{acme.ann.id}", headers=bearer(acme.token)).json()[
        "locked_until"
    ]
    assert login(client, DEFAULT_PASSWORD).status_code == 400

    response = unlock(client, acme.token, acme.ann)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["failed_logins"], body["locked_until"]) == (str(acme.ann.id), 0, None)
    [event] = unlocked_events(db, acme.ann)
    assert (event.actor, event.tenant_id) == (f"user:{acme.owner.id}", acme.tenant.id)
    before = event.data["before"]
    assert before["failed_logins"] == THRESHOLD
    assert datetime.fromisoformat(before["locked_until"]) == datetime.fromisoformat(locked_until)
    assert event.data["after"] == {"failed_logins": 0, "locked_until": None}
    assert login(client, DEFAULT_PASSWORD).status_code == 200


def test_unlocking_a_user_with_nothing_to_clear_changes_and_audits_nothing(
    client: TestClient, acme: Acme, db: Session
) -> None:
    never_locked = unlock(client, acme.token, acme.ann)
    assert never_locked.status_code == 200
    assert (never_locked.json()["failed_logins"], never_locked.json()["locked_until"]) == (0, None)
    assert unlocked_events(db, acme.ann) == []

    lock(client)
    assert [unlock(client, acme.token, acme.ann).status_code for _ in range(2)] == [200, 200]
    assert len(unlocked_events(db, acme.ann)) == 1


def test_concurrent_unlocks_clear_and_audit_once(
    client: TestClient, acme: Acme, db: Session
) -> None:
    lock(client)
    callers = 6
    statuses = all_at_once(callers, lambda: unlock(client, acme.token, acme.ann).status_code)
    assert statuses == [200] * callers
    assert len(unlocked_events(db, acme.ann)) == 1


def test_unlock_across_tenants_is_404(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    other = TenantFactory(slug="globex", policy={"lockout_threshold": THRESHOLD})
    stranger = UserFactory(
        tenant=other, email="ann@acme.test", roles=[builtin_role(db, other, "member")]
    )
    db.commit()
    lock(client, "globex")
    lock(client)

    response = unlock(client, acme.token, stranger)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert login(client, DEFAULT_PASSWORD, "globex").status_code == 400
    assert unlocked_events(db, stranger) == []
    # The same token unlocks its own tenant's user: the 404 is the tenant wall.
    assert unlock(client, acme.token, acme.ann).status_code == 200
    assert login(client, DEFAULT_PASSWORD).status_code == 200


def test_unlock_needs_the_users_disable_scope(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    lock(client)
    token = issue_token(acme.owner, sorted(TENANT_SCOPES - {Scope.USERS_DISABLE}))
    response = unlock(client, token, acme.ann)
    assert response.status_code == 403
    assert response.json()["scope"] == "users:disable"
    assert login(client, DEFAULT_PASSWORD).status_code == 400
    assert unlocked_events(db, acme.ann) == []


def test_enable_does_not_lift_a_lockout_unlock_does(
    client: TestClient, acme: Acme, db: Session
) -> None:
    lock(client)
    for action in ("disable", "enable"):
        answer = client.post(f"/users/{acme.ann.id}/{action}", headers=bearer(acme.token))
        assert answer.status_code == 200
    assert answer.json()["locked_until"] is not None
    assert login(client, DEFAULT_PASSWORD).status_code == 400
    assert unlock(client, acme.token, acme.ann).json()["locked_until"] is None
    assert login(client, DEFAULT_PASSWORD).status_code == 200


def test_a_deleted_user_cannot_be_unlocked(client: TestClient, acme: Acme, db: Session) -> None:
    lock(client)
    assert client.delete(f"/users/{acme.ann.id}", headers=bearer(acme.token)).status_code == 204
    assert unlock(client, acme.token, acme.ann).status_code == 409
    assert unlocked_events(db, acme.ann) == []
