"""Granting and revoking roles, and explaining a user's scopes, over HTTP."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Grant, Role, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from tests.conftest import bearer, builtin_role, random_id
from tests.factories import RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    owner: User
    token: str
    user: User


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Acme:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="owner@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    user = UserFactory(
        tenant=tenant, email="user@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return Acme(
        tenant=tenant, owner=owner, token=issue_token(owner, sorted(TENANT_SCOPES)), user=user
    )


def put(
    client: TestClient, token: str, user: object, role: object, body: object = None
) -> httpx.Response:
    return client.put(f"/users/{user}/roles/{role}", headers=bearer(token), json=body)


def grants(db: Session, user: User) -> dict[str, Grant]:
    db.expire_all()
    rows = db.execute(
        select(Role.name, Grant)
        .join(Role, (Role.tenant_id == Grant.tenant_id) & (Role.id == Grant.role_id))
        .where(Grant.user_id == user.id)
    )
    return {name: grant for name, grant in rows}


def actions(db: Session, user: User) -> list[tuple[str, dict[str, object]]]:
    db.expire_all()
    return [
        (e.action, e.data)
        for e in db.scalars(
            select(AuditEvent).where(AuditEvent.target == f"user:{user.id}").order_by(AuditEvent.at)
        )
    ]


def test_assign_is_an_idempotent_upsert(client: TestClient, acme: Acme, db: Session) -> None:
    auditor = builtin_role(db, acme.tenant, "auditor")
    first = put(client, acme.token, acme.user.id, auditor.id)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["role_name"] == "auditor"
    assert body["granted_by"] == str(acme.owner.id)
    assert body["expires_at"] is None
    assert body["active"] is True
    again = put(client, acme.token, acme.user.id, auditor.id, {"expires_at": None})
    assert again.status_code == 200
    assert again.json() == body

    later = datetime.now(UTC) + timedelta(days=7)
    expiring = put(client, acme.token, acme.user.id, auditor.id, {"expires_at": later.isoformat()})
    assert expiring.status_code == 200
    assert datetime.fromisoformat(expiring.json()["expires_at"]) == later
    assert grants(db, acme.user)["auditor"].expires_at == later
    assert actions(db, acme.user) == [
        (
            "grant.given",
            {"role_id": str(auditor.id), "role": "auditor", "after": {"expires_at": None}},
        ),
        (
            "grant.given",
            {
                "role_id": str(auditor.id),
                "role": "auditor",
                "before": {"expires_at": None},
                "after": {"expires_at": later.isoformat()},
            },
        ),
    ]


@pytest.mark.parametrize(
    ("expires_at", "status"),
    [
        ((datetime.now(UTC) - timedelta(minutes=1)).isoformat(), 400),
        ("2030-01-01T00:00:00", 422),
        ("tomorrow", 422),
    ],
    ids=["past", "naive", "garbage"],
)
def test_expiry_must_be_an_aware_future_moment(
    client: TestClient, acme: Acme, db: Session, expires_at: str, status: int
) -> None:
    auditor = builtin_role(db, acme.tenant, "auditor")
    response = put(client, acme.token, acme.user.id, auditor.id, {"expires_at": expires_at})
    assert response.status_code == status
    assert "auditor" not in grants(db, acme.user)


def test_list_shows_grants_with_who_when_and_until_when(
    client: TestClient, acme: Acme, db: Session
) -> None:
    lapsed = RoleFactory(tenant=acme.tenant, name="lapsed")
    db.add(
        Grant(
            tenant_id=acme.tenant.id,
            user_id=acme.user.id,
            role_id=lapsed.id,
            granted_by=acme.owner.id,
            expires_at=datetime.now(UTC) - timedelta(days=1),
        )
    )
    db.commit()
    response = client.get(f"/users/{acme.user.id}/roles", headers=bearer(acme.token))
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [g["role_name"] for g in listed] == ["lapsed", "member"]
    assert listed[0]["active"] is False
    assert listed[0]["granted_by"] == str(acme.owner.id)
    assert listed[1]["active"] is True
    assert listed[1]["granted_at"] is not None
    assert client.get(f"/users/{random_id()}/roles", headers=bearer(acme.token)).status_code == 404


def test_unassign_cuts_off_the_user_only_if_they_lose_a_scope(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    jobs = RoleFactory(tenant=acme.tenant, scopes=[Scope.JOBS_READ, Scope.ME])
    db.commit()
    assert put(client, acme.token, acme.user.id, jobs.id).status_code == 201
    token = issue_token(acme.user, ["me"])
    member = builtin_role(db, acme.tenant, "member")
    # `me` comes from member too: taking this role back costs the user nothing.
    redundant = RoleFactory(tenant=acme.tenant, scopes=[Scope.ME])
    db.commit()
    assert put(client, acme.token, acme.user.id, redundant.id).status_code == 201
    gone = client.delete(f"/users/{acme.user.id}/roles/{redundant.id}", headers=bearer(acme.token))
    assert gone.status_code == 204
    assert client.get("/me", headers=bearer(token)).status_code == 200
    cut = client.delete(f"/users/{acme.user.id}/roles/{jobs.id}", headers=bearer(acme.token))
    assert cut.status_code == 204
    assert client.get("/me", headers=bearer(token)).status_code == 401
    assert set(grants(db, acme.user)) == {member.name}
    assert [a for a, _ in actions(db, acme.user)].count("grant.revoked") == 2
    again = client.delete(f"/users/{acme.user.id}/roles/{jobs.id}", headers=bearer(acme.token))
    assert again.status_code == 404
    assert again.json()["error_description"] == "role grant not found"


def test_the_last_owner_keeps_the_owner_role(client: TestClient, acme: Acme, db: Session) -> None:
    owner = builtin_role(db, acme.tenant, "owner")
    path = f"/users/{acme.owner.id}/roles/{owner.id}"
    refused = client.delete(path, headers=bearer(acme.token))
    assert refused.status_code == 409
    assert "owner" in refused.json()["error_description"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    lapsing = put(client, acme.token, acme.owner.id, owner.id, {"expires_at": later})
    assert lapsing.status_code == 409
    assert put(client, acme.token, acme.user.id, owner.id).status_code == 201
    assert client.delete(path, headers=bearer(acme.token)).status_code == 204


def test_a_time_bound_owner_is_not_the_owner_the_tenant_keeps(
    client: TestClient, acme: Acme, db: Session
) -> None:
    """A grant that lapses on its own cannot stand in for the last lasting owner."""
    owner = builtin_role(db, acme.tenant, "owner")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert put(client, acme.token, acme.user.id, owner.id, {"expires_at": later}).status_code == 201
    path = f"/users/{acme.owner.id}/roles/{owner.id}"
    for refused in (
        client.delete(path, headers=bearer(acme.token)),
        client.post(f"/users/{acme.owner.id}/disable", headers=bearer(acme.token)),
        client.delete(f"/users/{acme.owner.id}", headers=bearer(acme.token)),
        client.post(f"/users/{acme.owner.id}/offboard", headers=bearer(acme.token)),
        put(client, acme.token, acme.owner.id, owner.id, {"expires_at": later}),
    ):
        assert refused.status_code == 409, refused.text
        assert "does not expire" in refused.json()["error_description"]
    # Made lasting, the second owner can take over.
    assert put(client, acme.token, acme.user.id, owner.id, {"expires_at": None}).status_code == 200
    assert client.delete(path, headers=bearer(acme.token)).status_code == 204


def test_no_escalation_when_granting_or_revoking(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    held = [Scope.ROLES_ASSIGN, Scope.ME]
    assigner = UserFactory(tenant=acme.tenant, roles=[RoleFactory(tenant=acme.tenant, scopes=held)])
    small = RoleFactory(tenant=acme.tenant, scopes=[Scope.ME])
    db.commit()
    token = issue_token(assigner, sorted(held))
    admin = builtin_role(db, acme.tenant, "admin")
    refused = put(client, token, assigner.id, admin.id)
    assert refused.status_code == 403
    assert "users:write" in refused.json()["missing_scopes"]
    assert "admin" not in grants(db, assigner)
    auditor = builtin_role(db, acme.tenant, "auditor")
    assert put(client, acme.token, acme.user.id, auditor.id).status_code == 201
    revoke = client.delete(f"/users/{acme.user.id}/roles/{auditor.id}", headers=bearer(token))
    assert revoke.status_code == 403
    assert "auditor" in grants(db, acme.user)
    assert put(client, token, acme.user.id, small.id).status_code == 201
    gone = client.delete(f"/users/{acme.user.id}/roles/{small.id}", headers=bearer(token))
    assert gone.status_code == 204


def test_unknown_or_foreign_ids_are_404(client: TestClient, acme: Acme, db: Session) -> None:
    foreign = RoleFactory(tenant=TenantFactory(slug="bravo"), scopes=[Scope.ME])
    db.commit()
    member = builtin_role(db, acme.tenant, "member")
    assert put(client, acme.token, acme.user.id, foreign.id).status_code == 404
    assert put(client, acme.token, random_id(), member.id).status_code == 404
    path = f"/users/{acme.user.id}/roles/{foreign.id}"
    assert client.delete(path, headers=bearer(acme.token)).status_code == 404


def test_effective_scopes_explain_each_scope_by_its_role_chains(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    readers = RoleFactory(tenant=acme.tenant, name="readers", scopes=[Scope.USERS_READ])
    helpdesk = RoleFactory(
        tenant=acme.tenant, name="helpdesk", scopes=[Scope.USERS_WRITE], includes=[readers]
    )
    user = UserFactory(
        tenant=acme.tenant, roles=[helpdesk, readers, builtin_role(db, acme.tenant, "member")]
    )
    db.commit()
    response = client.get(f"/users/{user.id}/effective-scopes", headers=bearer(acme.token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == str(user.id)
    explained = {s["scope"]: s for s in body["scopes"]}
    assert list(explained) == ["me", "users:read", "users:write"]
    assert explained["users:read"]["chains"] == [["readers"], ["helpdesk", "readers"]]
    assert explained["users:read"]["explained"] == [
        "users:read <- readers",
        "users:read <- readers <- helpdesk",
    ]
    assert explained["me"]["explained"] == ["me <- member"]

    me = client.get("/me", headers=bearer(issue_token(user, ["me"]))).json()
    assert me["scope_chains"] == body["scopes"]
    assert [c["scope"] for c in me["scope_chains"]] == me["scopes"]

    needs = client.get(
        f"/users/{user.id}/effective-scopes",
        headers=bearer(issue_token(acme.owner, ["roles:read"])),
    )
    assert needs.json()["scope"] == "users:read"
    unknown = client.get(f"/users/{random_id()}/effective-scopes", headers=bearer(acme.token))
    assert unknown.status_code == 404


def test_owner_scopes_are_explained_through_the_owner_role(client: TestClient, acme: Acme) -> None:
    response = client.get(f"/users/{acme.owner.id}/effective-scopes", headers=bearer(acme.token))
    chains = {s["scope"]: s["chains"] for s in response.json()["scopes"]}
    assert set(chains) == set(TENANT_SCOPES)
    assert all(c == [["owner"]] for c in chains.values())
