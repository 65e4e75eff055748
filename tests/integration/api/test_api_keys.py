"""Scoped API keys through the X-API-Key header, over HTTP."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.db.models import ApiKey, Grant, Role, User, UserStatus
from backend.domain.scopes import Scope
from backend.services import user_admin
from backend.services.effects import Effects
from tests.conftest import bearer
from tests.factories import RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


@dataclass(frozen=True)
class Keyholder:
    user: User
    role: Role
    token: str


@pytest.fixture
def keyholder(db: Session, issue_token: IssueToken) -> Keyholder:
    tenant = TenantFactory(slug="acme")
    role = RoleFactory(tenant=tenant, scopes=[Scope.API_KEYS_MANAGE, Scope.ME, Scope.AUDIT_READ])
    user = UserFactory(tenant=tenant, email="dev@acme.test", roles=[role])
    db.commit()
    return Keyholder(
        user=user, role=role, token=issue_token(user, ["api_keys:manage", "me", "audit:read"])
    )


def create(client: TestClient, holder: Keyholder, **body: object) -> httpx.Response:
    return client.post("/api-keys", headers=bearer(holder.token), json=body)


def with_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_key_is_shown_once_and_acts_as_its_creator(
    client: TestClient, keyholder: Keyholder, db: Session
) -> None:
    response = create(client, keyholder, name="ci", scopes=["me"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["key"].startswith(body["prefix"])
    assert body["scopes"] == ["me"]
    me = client.get("/me", headers=with_key(body["key"]))
    assert me.status_code == 200
    assert me.json()["email"] == "dev@acme.test"
    assert me.json()["token_scopes"] == ["me"]
    listed = client.get("/api-keys", headers=bearer(keyholder.token)).json()
    assert [k["prefix"] for k in listed] == [body["prefix"]]
    assert "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    stored = db.scalars(select(ApiKey)).one()
    assert body["key"].encode() not in stored.key_hash


def test_key_is_limited_to_its_own_scopes(client: TestClient, keyholder: Keyholder) -> None:
    key = create(client, keyholder, name="ci", scopes=["me"]).json()["key"]
    response = client.get("/api-keys", headers=with_key(key))
    assert response.status_code == 403
    assert response.json()["scope"] == "api_keys:manage"


def test_no_key_with_scopes_the_creator_lacks(client: TestClient, keyholder: Keyholder) -> None:
    response = create(client, keyholder, name="greedy", scopes=["me", "users:write"])
    assert response.status_code == 403
    assert response.json()["missing_scopes"] == ["users:write"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["nope"]},
        {"name": "", "scopes": ["me"]},
        {"name": "x", "scopes": ["me"], "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "x", "scopes": ["me"], "expires_at": "2030-01-01T00:00:00"},
    ],
    ids=["no-scopes", "unknown-scope", "no-name", "expired", "naive-datetime"],
)
def test_bad_key_requests_are_4xx(
    client: TestClient, keyholder: Keyholder, body: dict[str, object]
) -> None:
    response = create(client, keyholder, **body)
    assert 400 <= response.status_code < 500
    assert response.status_code != 403


def test_revoked_expired_and_disabled_keys_are_refused(
    client: TestClient, keyholder: Keyholder, db: Session, effects: Effects
) -> None:
    revoked = create(client, keyholder, name="a", scopes=["me"]).json()
    assert (
        client.delete(f"/api-keys/{revoked['id']}", headers=bearer(keyholder.token)).status_code
        == 204
    )
    response = client.get("/me", headers=with_key(revoked["key"]))
    assert response.status_code == 401
    assert response.json()["error_description"] == "API key has been revoked"

    expiring = create(client, keyholder, name="b", scopes=["me"]).json()
    db.execute(
        update(ApiKey)
        .where(ApiKey.name == "b")
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()
    assert client.get("/me", headers=with_key(expiring["key"])).json()["error_description"] == (
        "API key expired"
    )

    live = create(client, keyholder, name="c", scopes=["me"]).json()
    user_admin.set_status(
        db, effects, keyholder.user.tenant_id, keyholder.user.id, UserStatus.DISABLED
    )
    db.commit()
    assert client.get("/me", headers=with_key(live["key"])).json()["error_description"] == (
        "user is disabled"
    )


def test_key_loses_scopes_its_creator_loses(
    client: TestClient, keyholder: Keyholder, db: Session
) -> None:
    key = create(client, keyholder, name="audit", scopes=["audit:read", "me"]).json()["key"]
    db.execute(delete(Grant).where(Grant.user_id == keyholder.user.id))
    db.commit()
    assert client.get("/me", headers=with_key(key)).status_code == 403


@pytest.mark.parametrize(
    "key", ["", "garbage", "ak_" + "0" * 32 + "_" + "A" * 43, "rt_" + "0" * 32 + "_" + "A" * 43]
)
def test_garbage_keys_are_401(client: TestClient, key: str) -> None:
    response = client.get("/me", headers=with_key(key))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
