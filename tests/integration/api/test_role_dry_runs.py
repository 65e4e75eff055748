"""`?dry_run=true` on every role and grant change: the impact, and nothing changed."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Grant, Role, RoleScope, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from tests.conftest import bearer, builtin_role
from tests.factories import (
    LoginSessionFactory,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
)

IssueToken = Callable[..., str]


@dataclass(frozen=True)
class World:
    tenant: Tenant
    token: str
    leaf: Role
    parent: Role
    ann: User
    bob: User


@pytest.fixture
def world(db: Session, issue_token: IssueToken) -> World:
    """ann holds `parent` (which includes `leaf`) and has two live sessions and one
    ended; bob holds `leaf` and auditor, which covers all of leaf's scopes; the robot
    service account holds `leaf`."""
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    leaf = RoleFactory(tenant=tenant, name="leaf", scopes=[Scope.AUDIT_READ, Scope.JOBS_READ])
    parent = RoleFactory(tenant=tenant, name="parent", scopes=[Scope.ME], includes=[leaf])
    ann = UserFactory(tenant=tenant, email="ann@acme.test", roles=[parent])
    bob = UserFactory(
        tenant=tenant, email="bob@acme.test", roles=[leaf, builtin_role(db, tenant, "auditor")]
    )
    LoginSessionFactory(user=ann)
    LoginSessionFactory(user=ann)
    ended = LoginSessionFactory(user=ann)
    ended.revoked_at = ended.created_at
    ServiceAccountFactory(tenant=tenant, name="robot", roles=[leaf])
    db.commit()
    return World(
        tenant=tenant,
        token=issue_token(owner, sorted(TENANT_SCOPES)),
        leaf=leaf,
        parent=parent,
        ann=ann,
        bob=bob,
    )


def fingerprint(db: Session) -> tuple[object, ...]:
    """Everything a dry run must leave as it was."""
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(AuditEvent)),
        sorted(db.execute(select(Role.id, Role.name, Role.description)).all()),
        sorted(db.execute(select(RoleScope.role_id, RoleScope.scope)).all()),
        sorted(db.execute(select(Grant.user_id, Grant.role_id, Grant.expires_at)).all()),
        sorted(db.execute(select(User.id, User.token_version)).all()),
    )


def test_editing_a_role_previews_who_gains_and_loses_and_the_sessions_cut(
    client: TestClient, world: World, db: Session
) -> None:
    before = fingerprint(db)
    response = client.patch(
        f"/roles/{world.leaf.id}?dry_run=true",
        headers=bearer(world.token),
        json={"scopes": ["jobs:read", "users:read"]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "dry_run": True,
        "impact": [
            {
                "user_id": str(world.ann.id),
                "email": "ann@acme.test",
                "gained": ["users:read"],
                "lost": ["audit:read"],
                "lapses_sooner": [],
                "sessions_cut": 2,
            },
        ],
        "service_accounts": [
            {
                "service_account_id": response.json()["service_accounts"][0]["service_account_id"],
                "name": "robot",
                "gained": ["users:read"],
                "lost": ["audit:read"],
            }
        ],
    }
    # bob is not listed: auditor gives him all of leaf's scopes, before and after.
    assert before == fingerprint(db)


def test_the_preview_matches_what_the_change_then_does(
    client: TestClient, world: World, db: Session, issue_token: IssueToken
) -> None:
    body = {"scopes": ["jobs:read", "users:read"]}
    path = f"/roles/{world.leaf.id}"
    preview = client.patch(f"{path}?dry_run=true", headers=bearer(world.token), json=body).json()
    ann_token = issue_token(world.ann, ["me"])
    assert client.patch(path, headers=bearer(world.token), json=body).status_code == 200
    assert client.get("/me", headers=bearer(ann_token)).status_code == 401
    assert preview["impact"][0]["user_id"] == str(world.ann.id)


def test_a_forbidden_change_is_refused_in_a_dry_run_too(
    client: TestClient, world: World, db: Session, issue_token: IssueToken
) -> None:
    admin = builtin_role(db, world.tenant, "admin")
    refused = client.patch(
        f"/roles/{admin.id}?dry_run=true", headers=bearer(world.token), json={"description": "x"}
    )
    assert refused.status_code == 409
    cycle = client.patch(
        f"/roles/{world.leaf.id}?dry_run=true",
        headers=bearer(world.token),
        json={"includes": [str(world.parent.id)]},
    )
    assert cycle.status_code == 409
    assert set(cycle.json()["cycle"]) == {"leaf", "parent"}
    narrow = issue_token(world.ann, ["roles:write", "roles:assign"])
    escalation = client.delete(f"/roles/{world.leaf.id}?dry_run=true", headers=bearer(narrow))
    assert escalation.status_code == 403


def test_creating_and_deleting_previews(client: TestClient, world: World, db: Session) -> None:
    before = fingerprint(db)
    created = client.post(
        "/roles?dry_run=true",
        headers=bearer(world.token),
        json={"name": "new", "scopes": ["me"], "includes": [str(world.leaf.id)]},
    )
    assert created.status_code == 200, created.text
    assert created.json() == {"dry_run": True, "impact": [], "service_accounts": []}
    deleted = client.delete(f"/roles/{world.leaf.id}?dry_run=true", headers=bearer(world.token))
    assert deleted.status_code == 200
    impact = {row["email"]: row for row in deleted.json()["impact"]}
    assert impact["ann@acme.test"]["lost"] == ["audit:read", "jobs:read"]
    assert impact["ann@acme.test"]["sessions_cut"] == 2
    assert "bob@acme.test" not in impact
    assert deleted.json()["service_accounts"][0]["lost"] == ["audit:read", "jobs:read"]
    assert before == fingerprint(db)


def test_granting_and_revoking_previews(client: TestClient, world: World, db: Session) -> None:
    before = fingerprint(db)
    auditor = builtin_role(db, world.tenant, "auditor")
    grant = client.put(
        f"/users/{world.ann.id}/roles/{auditor.id}?dry_run=true", headers=bearer(world.token)
    )
    assert grant.status_code == 200, grant.text
    (row,) = grant.json()["impact"]
    assert row["gained"] == sorted(
        s.value for s in auditor_scopes(db, auditor) - {Scope.ME, Scope.AUDIT_READ, Scope.JOBS_READ}
    )
    assert row["lost"] == []
    assert row["sessions_cut"] == 0
    revoke = client.delete(
        f"/users/{world.ann.id}/roles/{world.parent.id}?dry_run=true", headers=bearer(world.token)
    )
    assert revoke.status_code == 200
    assert revoke.json()["impact"] == [
        {
            "user_id": str(world.ann.id),
            "email": "ann@acme.test",
            "gained": [],
            "lost": ["audit:read", "jobs:read", "me"],
            "lapses_sooner": [],
            "sessions_cut": 2,
        }
    ]
    assert before == fingerprint(db)


def test_an_expiry_set_on_a_grant_previews_the_scopes_that_lapse_sooner(
    client: TestClient, world: World, db: Session
) -> None:
    before = fingerprint(db)
    lapse = {"expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    path = f"/users/{world.ann.id}/roles/{world.parent.id}"
    preview = client.put(f"{path}?dry_run=true", headers=bearer(world.token), json=lapse)
    assert preview.status_code == 200, preview.text
    assert preview.json()["impact"] == [
        {
            "user_id": str(world.ann.id),
            "email": "ann@acme.test",
            "gained": [],
            "lost": [],
            # Her tokens were issued for scopes that never lapsed: they are cut off.
            "lapses_sooner": ["audit:read", "jobs:read", "me"],
            "sessions_cut": 2,
        }
    ]
    assert before == fingerprint(db)
    # Pushing the expiry further out afterwards hastens nothing: nobody is listed.
    assert client.put(path, headers=bearer(world.token), json=lapse).status_code == 200
    later = {"expires_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()}
    pushed = client.put(f"{path}?dry_run=true", headers=bearer(world.token), json=later)
    assert pushed.json()["impact"] == []


def auditor_scopes(db: Session, auditor: Role) -> set[Scope]:
    return {
        Scope(s) for s in db.scalars(select(RoleScope.scope).where(RoleScope.role_id == auditor.id))
    }
