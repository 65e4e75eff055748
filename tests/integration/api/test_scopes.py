"""GET /scopes: the catalogue, with what may be granted where."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope
from backend.domain.scopes import SCOPE_DESCRIPTIONS, Scope
from tests.conftest import bearer, builtin_role
from tests.factories import RoleFactory, TenantFactory, UserFactory

IssueToken = Callable[..., str]


def test_the_catalogue_with_kinds_and_what_this_tenant_may_grant(
    client: TestClient, db: Session, issue_token: IssueToken
) -> None:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    response = client.get("/scopes", headers=bearer(issue_token(owner, ["roles:read"])))
    assert response.status_code == 200, response.text
    groups = response.json()
    assert [g["builtin"] for g in groups] == [True]
    listed = {s["scope"]: s for s in groups[0]["scopes"]}
    assert set(listed) == {s.value for s in Scope}
    assert listed["users:write"] == {
        "scope": "users:write",
        "description": SCOPE_DESCRIPTIONS[Scope.USERS_WRITE],
        "kind": "tenant",
        "grantable": True,
    }
    assert listed["tenants:write"]["kind"] == "platform"
    assert listed["tenants:write"]["grantable"] is False
    refused = client.get("/scopes", headers=bearer(issue_token(owner, ["me"])))
    assert refused.status_code == 403


def test_platform_scopes_are_grantable_in_the_platform_tenant(
    client: TestClient, db: Session, issue_token: IssueToken
) -> None:
    platform = TenantFactory(slug="platform")
    operator = UserFactory(
        tenant=platform, roles=[RoleFactory(tenant=platform, scopes=[Scope.ROLES_READ])]
    )
    db.commit()
    response = client.get("/scopes", headers=bearer(issue_token(operator, ["roles:read"])))
    assert all(s["grantable"] for s in response.json()[0]["scopes"])


def test_product_scopes_are_listed_under_their_api(
    client: TestClient, db: Session, issue_token: IssueToken
) -> None:
    tenant = TenantFactory(slug="acme")
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    api = Api(identifier="https://api.example.com/projects", name="Projects")
    db.add(api)
    db.flush()
    db.add(ApiScope(name="projects:read", api_id=api.id, description="Read projects"))
    db.commit()
    response = client.get("/scopes", headers=bearer(issue_token(owner, ["roles:read"])))
    own, product = response.json()
    assert own["builtin"] is True
    assert product == {
        "identifier": "https://api.example.com/projects",
        "name": "Projects",
        "builtin": False,
        "scopes": [
            {
                "scope": "projects:read",
                "description": "Read projects",
                "kind": "product",
                # Any tenant's roles may carry a product scope.
                "grantable": True,
            }
        ],
    }
