"""Roles over HTTP: list, create, read, edit and delete; no escalation; cut-offs."""

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Role, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from tests.conftest import bearer, builtin_role, random_id
from tests.factories import RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    owner: User
    token: str


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Acme:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(
        tenant=tenant, email="owner@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return Acme(tenant=tenant, owner=owner, token=issue_token(owner, sorted(TENANT_SCOPES)))


def create(client: TestClient, token: str, **body: object) -> httpx.Response:
    return client.post("/roles", headers=bearer(token), json=body)


def role_events(db: Session, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.at))
    )


def test_list_shows_the_builtins_with_their_scopes(client: TestClient, acme: Acme) -> None:
    response = client.get("/roles", headers=bearer(acme.token))
    assert response.status_code == 200, response.text
    listed = {r["name"]: r for r in response.json()}
    assert set(listed) == {"owner", "admin", "member", "auditor"}
    assert set(listed["owner"]["scopes"]) == set(TENANT_SCOPES)
    assert listed["member"]["scopes"] == ["me"]
    assert all(r["builtin"] and r["includes"] == [] for r in listed.values())


def test_create_read_edit_delete_with_an_audit_trail(
    client: TestClient, acme: Acme, db: Session
) -> None:
    auditor = builtin_role(db, acme.tenant, "auditor")
    created = create(
        client,
        acme.token,
        name="  support  ",
        description="Helps users",
        scopes=["users:write"],
        includes=[str(auditor.id)],
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "support"
    assert body["builtin"] is False
    assert body["scopes"] == ["users:write"]
    assert body["includes"] == [str(auditor.id)]
    role_id = body["id"]
    assert client.get(f"/roles/{role_id}", headers=bearer(acme.token)).json() == body

    edited = client.patch(
        f"/roles/{role_id}",
        headers=bearer(acme.token),
        json={"description": "Helps", "scopes": ["users:write", "users:disable"]},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["scopes"] == ["users:disable", "users:write"]
    assert edited.json()["includes"] == [str(auditor.id)]
    assert edited.json()["name"] == "support"

    assert client.delete(f"/roles/{role_id}", headers=bearer(acme.token)).status_code == 204
    assert client.get(f"/roles/{role_id}", headers=bearer(acme.token)).status_code == 404

    (made,) = role_events(db, "role.created")
    assert made.actor == f"user:{acme.owner.id}"
    assert made.target == f"role:{role_id}"
    assert made.data["after"]["includes"] == [str(auditor.id)]
    (updated,) = role_events(db, "role.updated")
    assert updated.data == {
        "before": {"description": "Helps users", "scopes": ["users:write"]},
        "after": {"description": "Helps", "scopes": ["users:disable", "users:write"]},
    }
    (deleted,) = role_events(db, "role.deleted")
    assert deleted.data["before"]["name"] == "support"


def test_an_edit_that_changes_nothing_is_not_audited(
    client: TestClient, acme: Acme, db: Session
) -> None:
    role = RoleFactory(tenant=acme.tenant, name="quiet", scopes=[Scope.ME])
    db.commit()
    response = client.patch(
        f"/roles/{role.id}", headers=bearer(acme.token), json={"name": "quiet", "scopes": ["me"]}
    )
    assert response.status_code == 200
    assert role_events(db, "role.updated") == []


def test_names_are_unique_per_tenant(client: TestClient, acme: Acme, db: Session) -> None:
    RoleFactory(tenant=TenantFactory(), name="support")
    other = RoleFactory(tenant=acme.tenant, name="other")
    db.commit()
    assert create(client, acme.token, name="support").status_code == 201
    taken = create(client, acme.token, name="support")
    assert taken.status_code == 409
    assert "support" in taken.json()["error_description"]
    renamed = client.patch(f"/roles/{other.id}", headers=bearer(acme.token), json={"name": "owner"})
    assert renamed.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "scopes": ["no:such"]},
        {"name": "ok", "includes": ["not-a-uuid"]},
    ],
    ids=["empty", "blank", "long", "unknown-scope", "bad-include"],
)
def test_bad_bodies_are_422(client: TestClient, acme: Acme, body: dict[str, object]) -> None:
    assert create(client, acme.token, **body).status_code == 422


def test_an_unknown_included_role_is_404(client: TestClient, acme: Acme) -> None:
    response = create(client, acme.token, name="x", includes=[random_id()])
    assert response.status_code == 404
    assert response.json()["error_description"] == "included role not found"


def test_platform_scopes_only_in_the_platform_tenant(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    refused = create(client, acme.token, name="operator", scopes=["tenants:read"])
    assert refused.status_code == 422
    assert "tenants:read" in refused.json()["error_description"]
    assert "platform tenant" in refused.json()["error_description"]

    platform = TenantFactory(slug="platform")
    operators = RoleFactory(
        tenant=platform, scopes=[Scope.ROLES_WRITE, Scope.TENANTS_READ, Scope.TENANTS_WRITE]
    )
    operator = UserFactory(tenant=platform, roles=[operators])
    db.commit()
    token = issue_token(operator, ["roles:write", "tenants:read"])
    assert create(client, token, name="reader", scopes=["tenants:read"]).status_code == 201
    # Held by the role, but not by this token: no escalation.
    narrowed = create(client, token, name="writer", scopes=["tenants:write"])
    assert narrowed.status_code == 403
    assert narrowed.json()["missing_scopes"] == ["tenants:write"]


def test_builtin_roles_cannot_be_edited_or_deleted(
    client: TestClient, acme: Acme, db: Session
) -> None:
    admin = builtin_role(db, acme.tenant, "admin")
    edited = client.patch(
        f"/roles/{admin.id}", headers=bearer(acme.token), json={"description": "mine now"}
    )
    assert edited.status_code == 409
    assert "built-in role 'admin' cannot be edited" in edited.json()["error_description"]
    deleted = client.delete(f"/roles/{admin.id}", headers=bearer(acme.token))
    assert deleted.status_code == 409
    assert "cannot be deleted" in deleted.json()["error_description"]


def test_an_inclusion_cycle_is_409_naming_it(client: TestClient, acme: Acme, db: Session) -> None:
    base = RoleFactory(tenant=acme.tenant, name="base")
    middle = RoleFactory(tenant=acme.tenant, name="middle", includes=[base])
    top = RoleFactory(tenant=acme.tenant, name="top", includes=[middle])
    db.commit()
    response = client.patch(
        f"/roles/{base.id}", headers=bearer(acme.token), json={"includes": [str(top.id)]}
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["cycle"][0] == body["cycle"][-1]
    assert set(body["cycle"]) == {"base", "middle", "top"}
    assert "role inclusion cycle" in body["error_description"]
    itself = client.patch(
        f"/roles/{base.id}", headers=bearer(acme.token), json={"includes": [str(base.id)]}
    )
    assert itself.status_code == 409
    assert itself.json()["cycle"] == ["base", "base"]


@pytest.fixture
def manager(acme: Acme, db: Session, issue_token: IssueToken) -> str:
    """A token for a role manager who holds roles:* and users:read, nothing more."""
    held = [Scope.ROLES_READ, Scope.ROLES_WRITE, Scope.ROLES_ASSIGN, Scope.USERS_READ]
    user = UserFactory(tenant=acme.tenant, roles=[RoleFactory(tenant=acme.tenant, scopes=held)])
    db.commit()
    return issue_token(user, sorted(held))


def test_no_escalation_when_creating(
    client: TestClient, acme: Acme, manager: str, db: Session
) -> None:
    direct = create(client, manager, name="x", scopes=["users:read", "users:write"])
    assert direct.status_code == 403
    assert direct.json()["missing_scopes"] == ["users:write"]
    admin = builtin_role(db, acme.tenant, "admin")
    through = create(client, manager, name="y", includes=[str(admin.id)])
    assert through.status_code == 403
    assert "audit:read" in through.json()["missing_scopes"]
    assert create(client, manager, name="z", scopes=["users:read"]).status_code == 201


def test_no_escalation_when_editing_before_or_after(
    client: TestClient, acme: Acme, manager: str, db: Session
) -> None:
    mine = RoleFactory(tenant=acme.tenant, scopes=[Scope.USERS_READ])
    beyond = RoleFactory(tenant=acme.tenant, scopes=[Scope.AUDIT_READ])
    holder = RoleFactory(tenant=acme.tenant, scopes=[Scope.USERS_READ], includes=[beyond])
    db.commit()
    grow = client.patch(f"/roles/{mine.id}", headers=bearer(manager), json={"scopes": ["me"]})
    assert grow.status_code == 403
    assert grow.json()["missing_scopes"] == ["me"]
    include = client.patch(
        f"/roles/{mine.id}", headers=bearer(manager), json={"includes": [str(beyond.id)]}
    )
    assert include.status_code == 403
    assert include.json()["missing_scopes"] == ["audit:read"]
    # Shrinking a role you could not have made is still touching what is not yours.
    shrink = client.patch(f"/roles/{holder.id}", headers=bearer(manager), json={"includes": []})
    assert shrink.status_code == 403
    assert client.delete(f"/roles/{holder.id}", headers=bearer(manager)).status_code == 403
    rename = client.patch(f"/roles/{mine.id}", headers=bearer(manager), json={"name": "renamed"})
    assert rename.status_code == 200


def test_routes_need_their_scopes(client: TestClient, acme: Acme, issue_token: IssueToken) -> None:
    reader = issue_token(acme.owner, ["roles:read"])
    assert client.get("/roles", headers=bearer(reader)).status_code == 200
    refused = create(client, reader, name="x")
    assert refused.status_code == 403
    assert refused.json()["scope"] == "roles:write"
    nobody = issue_token(acme.owner, ["me"])
    assert client.get("/roles", headers=bearer(nobody)).json()["scope"] == "roles:read"


def test_removing_scopes_cuts_off_exactly_those_who_lose_them(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    leaf = RoleFactory(tenant=acme.tenant, name="leaf", scopes=[Scope.AUDIT_READ, Scope.ME])
    parent = RoleFactory(tenant=acme.tenant, name="parent", includes=[leaf])
    also = RoleFactory(tenant=acme.tenant, name="also", scopes=[Scope.AUDIT_READ])
    loser = UserFactory(tenant=acme.tenant, roles=[parent])
    keeper = UserFactory(tenant=acme.tenant, roles=[leaf, also])
    bystander = UserFactory(tenant=acme.tenant, roles=[builtin_role(db, acme.tenant, "member")])
    db.commit()
    tokens = {u.id: issue_token(u, ["me"]) for u in (loser, keeper, bystander)}

    response = client.patch(
        f"/roles/{leaf.id}", headers=bearer(acme.token), json={"scopes": ["me"]}
    )
    assert response.status_code == 200, response.text
    assert client.get("/me", headers=bearer(tokens[loser.id])).status_code == 401
    assert client.get("/me", headers=bearer(tokens[keeper.id])).status_code == 200
    assert client.get("/me", headers=bearer(tokens[bystander.id])).status_code == 200

    # Adding scopes cuts nobody off.
    fresh = issue_token(
        db.get_one(User, (loser.tenant_id, loser.id), populate_existing=True), ["me"]
    )
    added = client.patch(
        f"/roles/{leaf.id}", headers=bearer(acme.token), json={"scopes": ["me", "jobs:read"]}
    )
    assert added.status_code == 200
    assert client.get("/me", headers=bearer(fresh)).status_code == 200


def test_deleting_a_role_cuts_off_its_holders(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.ME, Scope.JOBS_READ])
    holder = UserFactory(tenant=acme.tenant, roles=[role])
    db.commit()
    token = issue_token(holder, ["me"])
    assert client.delete(f"/roles/{role.id}", headers=bearer(acme.token)).status_code == 204
    assert client.get("/me", headers=bearer(token)).status_code == 401
    assert db.scalar(select(Role.id).where(Role.id == role.id)) is None


def test_a_service_account_that_loses_a_scope_is_cut_off_too(
    client: TestClient, acme: Acme, db: Session
) -> None:
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.API_KEYS_MANAGE, Scope.AUDIT_READ])
    db.commit()
    account = client.post(
        "/service-accounts",
        headers=bearer(acme.token),
        json={"name": "robot", "role_ids": [str(role.id)]},
    ).json()
    granted = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(account["client_id"], account["client_secret"]),
    )
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    assert client.get("/service-accounts", headers=bearer(token)).status_code == 200
    edited = client.patch(
        f"/roles/{role.id}", headers=bearer(acme.token), json={"scopes": ["api_keys:manage"]}
    )
    assert edited.status_code == 200
    assert client.get("/service-accounts", headers=bearer(token)).status_code == 401
