"""Invitations over HTTP: an invited user sets their first password, once."""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Invitation, User
from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory

IssueToken = Callable[..., str]
PASSWORD = "amber heron crosses rivers"
INVALID = {
    "error": "invalid_request",
    "error_description": "invitation token is invalid, expired or already used",
}


@pytest.fixture
def admin_token(db: Session, issue_token: IssueToken) -> str:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return issue_token(owner, sorted(TENANT_SCOPES))


def invite(client: TestClient, admin_token: str, email: str = "kai@acme.test") -> dict[str, str]:
    response = client.post(
        "/users", headers=bearer(admin_token), json={"email": email, "invite": True}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"id": body["id"], "token": body["invitation"]["token"]}


def accept(client: TestClient, token: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/invitations/accept", json={"token": token, "password": password})


def login(client: TestClient, password: str = PASSWORD) -> httpx.Response:
    return client.post(
        "/token",
        data={"grant_type": "password", "username": "acme/kai@acme.test", "password": password},
    )


def test_an_invited_user_sets_a_password_then_logs_in(
    client: TestClient, admin_token: str, db: Session
) -> None:
    invited = invite(client, admin_token)
    assert login(client).status_code == 400
    response = accept(client, invited["token"])
    assert response.status_code == 204, response.text
    assert login(client).status_code == 200
    shown = client.get(f"/users/{invited['id']}", headers=bearer(admin_token)).json()
    assert shown["password_set"] is True
    invitation = db.scalars(select(Invitation)).one()
    assert invitation.accepted_at is not None
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.accepted")).one()
    assert (event.actor, event.target) == (f"user:{invited['id']}", f"user:{invited['id']}")
    assert PASSWORD not in str(event.data)


def test_only_the_tokens_hash_is_stored(client: TestClient, admin_token: str, db: Session) -> None:
    invited = invite(client, admin_token)
    invitation = db.scalars(select(Invitation)).one()
    assert invitation.token_hash == hashlib.sha256(invited["token"].encode()).digest()


def test_a_used_token_is_refused(client: TestClient, admin_token: str, db: Session) -> None:
    invited = invite(client, admin_token)
    assert accept(client, invited["token"]).status_code == 204
    reused = accept(client, invited["token"], "another fine passphrase")
    assert (reused.status_code, reused.json()) == (400, INVALID)
    assert login(client).status_code == 200


def test_an_expired_token_is_refused(client: TestClient, admin_token: str, db: Session) -> None:
    invited = invite(client, admin_token)
    invitation = db.scalars(select(Invitation)).one()
    invitation.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.commit()
    response = accept(client, invited["token"])
    assert (response.status_code, response.json()) == (400, INVALID)


def test_a_disabled_users_invitation_is_refused(
    client: TestClient, admin_token: str, db: Session
) -> None:
    invited = invite(client, admin_token)
    client.post(f"/users/{invited['id']}/disable", headers=bearer(admin_token))
    response = accept(client, invited["token"])
    assert (response.status_code, response.json()) == (400, INVALID)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "iv_" + "0" * 32 + "_" + "A" * 43,
        "rt_" + "0" * 32 + "_" + "A" * 43,
        "",
    ],
    ids=["garbage", "unknown", "other-kind", "empty"],
)
def test_unknown_tokens_get_the_same_answer(
    client: TestClient, admin_token: str, token: str
) -> None:
    response = accept(client, token)
    assert (response.status_code, response.json()) == (400, INVALID)


def test_a_token_from_one_tenant_cannot_touch_another(
    client: TestClient, admin_token: str, db: Session
) -> None:
    """The token's tenant part is bound before the lookup: forging it finds nothing."""
    invited = invite(client, admin_token)
    other = TenantFactory(slug="other")
    db.commit()
    _, _, secret = invited["token"].split("_", 2)
    forged = f"iv_{other.id.hex}_{secret}"
    assert accept(client, forged).json() == INVALID
    assert accept(client, invited["token"]).status_code == 204


def test_a_weak_password_is_refused_and_the_token_stays_usable(
    client: TestClient, admin_token: str, db: Session
) -> None:
    invited = invite(client, admin_token)
    weak = accept(client, invited["token"], "QwertyUiop123")
    assert weak.status_code == 422
    assert "too common" in weak.json()["error_description"]
    short = accept(client, invited["token"], "short")
    assert short.status_code == 422
    assert accept(client, invited["token"]).status_code == 204
    user = db.scalars(select(User).where(User.id == invited["id"])).one()
    assert user.password_hash is not None
