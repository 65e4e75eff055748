"""Roles carry product scopes (issue 16 item 3), through HTTP: every role rule applies to
them unchanged: no escalation, explain chains, dry runs, time-bound grants, cut-off."""

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Api, ApiScope, Grant, Role, RoleScope, Tenant, User
from backend.domain.api_manifest import ApiSpec
from backend.domain.scopes import TENANT_SCOPES
from backend.security.tokens import AccessTokenCodec
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory
from tests.support.concurrency import JOIN_TIMEOUT_S
from tests.support.platform import apply_apis, create_operator

IssueToken = Callable[..., str]
PROJECTS = "https://api.example.com/projects"
OPERATOR_PASSWORD = "violet otters juggle lanterns"


@dataclass(frozen=True)
class Acme:
    tenant: Tenant
    # Owner, also holding projects:read and projects:write through a role.
    owner: User
    token: str
    api: Api


@pytest.fixture
def acme(db: Session, issue_token: IssueToken) -> Acme:
    api = Api(identifier=PROJECTS, name="Projects")
    db.add(api)
    db.flush()
    db.add_all(
        ApiScope(name=name, api_id=api.id)
        for name in ("projects:read", "projects:write", "projects:delete")
    )
    tenant = TenantFactory(slug="acme")
    product = RoleFactory(tenant=tenant, name="product", scopes=["projects:read", "projects:write"])
    owner = UserFactory(
        tenant=tenant,
        email="owner@acme.test",
        roles=[builtin_role(db, tenant, "owner"), product],
    )
    db.commit()
    return Acme(tenant, owner, issue_token(owner, sorted(TENANT_SCOPES)), api)


def login(client: TestClient, email: str, **extra: str) -> httpx.Response:
    return client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": f"acme/{email}",
            "password": DEFAULT_PASSWORD,
            **extra,
        },
    )


def product_claims(settings: Settings, access_token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(
        access_token, settings.signing_secret(), algorithms=["HS256"], audience=PROJECTS
    )
    return decoded


def test_a_tenant_admin_builds_a_role_from_product_scopes(
    client: TestClient, acme: Acme, db: Session, settings: Settings
) -> None:
    created = client.post(
        "/roles",
        headers=bearer(acme.token),
        json={"name": "editor", "scopes": ["projects:read", "projects:write", "me"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["scopes"] == ["me", "projects:read", "projects:write"]
    editor = UserFactory(tenant=acme.tenant, email="ed@acme.test")
    db.commit()
    granted = client.put(
        f"/users/{editor.id}/roles/{created.json()['id']}", headers=bearer(acme.token), json={}
    )
    assert granted.status_code in (200, 201), granted.text

    token = login(client, "ed@acme.test", resource=PROJECTS).json()
    assert token["scope"] == "projects:read projects:write"
    assert product_claims(settings, token["access_token"])["aud"] == PROJECTS

    explained = client.get(f"/users/{editor.id}/effective-scopes", headers=bearer(acme.token))
    chains = {s["scope"]: s["explained"] for s in explained.json()["scopes"]}
    assert chains["projects:write"] == ["projects:write <- editor"]
    listed = client.get("/scopes", headers=bearer(acme.token)).json()
    product = next(group for group in listed if group["identifier"] == PROJECTS)
    assert {s["scope"]: s["grantable"] for s in product["scopes"]} == {
        "projects:delete": True,
        "projects:read": True,
        "projects:write": True,
    }


def test_a_scope_no_api_has_is_422(client: TestClient, acme: Acme) -> None:
    for scopes in (["projects:archive"], ["reports:export", "me"]):
        response = client.post(
            "/roles", headers=bearer(acme.token), json={"name": "x", "scopes": scopes}
        )
        assert response.status_code == 422, response.text
        assert scopes[0] in response.json()["error_description"], response.text


def test_a_delegated_admin_grants_only_product_scopes_they_hold(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    manager_role = RoleFactory(
        tenant=acme.tenant, scopes=["roles:write", "roles:assign", "roles:read", "projects:read"]
    )
    manager = UserFactory(tenant=acme.tenant, roles=[manager_role])
    db.commit()
    token = issue_token(manager, ["roles:write", "roles:assign", "roles:read"])

    def create(scopes: list[str]) -> httpx.Response:
        return client.post(
            "/roles", headers=bearer(token), json={"name": f"r{len(scopes)}", "scopes": scopes}
        )

    refused = create(["projects:read", "projects:write"])
    assert refused.status_code == 403
    assert refused.json()["missing_scopes"] == ["projects:write"]
    assert create(["projects:read"]).status_code == 201
    # Nor through inclusion, nor by granting a role that carries more.
    product = db.scalars(select(Role).where(Role.name == "product")).one()
    through = client.post(
        "/roles", headers=bearer(token), json={"name": "wrap", "includes": [str(product.id)]}
    )
    assert through.status_code == 403
    assert through.json()["missing_scopes"] == ["projects:write"]
    granting = client.put(f"/users/{manager.id}/roles/{product.id}", headers=bearer(token), json={})
    assert granting.status_code == 403


def test_a_dry_run_with_product_scopes_changes_nothing(
    client: TestClient, acme: Acme, db: Session
) -> None:
    product = db.scalars(select(Role).where(Role.name == "product")).one()
    dry = client.patch(
        f"/roles/{product.id}?dry_run=true",
        headers=bearer(acme.token),
        json={"scopes": ["projects:read"]},
    )
    assert dry.status_code == 200, dry.text
    assert "projects:write" in str(dry.json())
    db.expire_all()
    stored = set(db.scalars(select(RoleScope.scope).where(RoleScope.role_id == product.id)))
    assert stored == {"projects:read", "projects:write"}


def test_a_time_bound_grant_bounds_the_product_token(
    client: TestClient, acme: Acme, db: Session, settings: Settings
) -> None:
    user = UserFactory(tenant=acme.tenant, email="temp@acme.test")
    db.commit()
    product = db.scalars(select(Role).where(Role.name == "product")).one()
    until = datetime.now(UTC) + timedelta(seconds=90)
    granted = client.put(
        f"/users/{user.id}/roles/{product.id}",
        headers=bearer(acme.token),
        json={"expires_at": until.isoformat()},
    )
    assert granted.status_code in (200, 201), granted.text
    token = login(client, "temp@acme.test", resource=PROJECTS).json()
    assert token["scope"] == "projects:read projects:write"
    exp = product_claims(settings, token["access_token"])["exp"]
    assert isinstance(exp, int)
    assert exp <= until.timestamp()


def test_a_role_losing_a_product_scope_cuts_its_holders_off(
    client: TestClient, acme: Acme, db: Session, issue_token: IssueToken
) -> None:
    holder = UserFactory(tenant=acme.tenant, roles=[builtin_role(db, acme.tenant, "member")])
    db.commit()
    product = db.scalars(select(Role).where(Role.name == "product")).one()
    client.put(f"/users/{holder.id}/roles/{product.id}", headers=bearer(acme.token), json={})
    db.refresh(holder)
    before = issue_token(holder, ["me"])
    assert client.get("/me", headers=bearer(before)).status_code == 200
    response = client.patch(
        f"/roles/{product.id}", headers=bearer(acme.token), json={"scopes": ["projects:read"]}
    )
    assert response.status_code == 200, response.text
    assert client.get("/me", headers=bearer(before)).status_code == 401


def test_a_cascade_and_a_role_taking_the_scope_on_never_leave_it_carried(
    client: TestClient,
    acme: Acme,
    db: Session,
    effects: Effects,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    """`tessera apis apply --cascade` dropping projects:delete races a POST /roles adding
    it: either the role is written first and the cascade takes the scope off it, or the
    cascade commits first and the role is refused (422). No role keeps an unregistered
    scope, whose holders' tokens the cascade would not have cut off."""
    create_operator(db, effects, settings, OPERATOR_PASSWORD)
    holding = RoleFactory(tenant=acme.tenant, name="deleting", scopes=["projects:delete"])
    db.add(Grant(tenant_id=acme.tenant.id, user_id=acme.owner.id, role_id=holding.id))
    db.commit()
    spec = ApiSpec(
        identifier=PROJECTS,
        name="Projects",
        description="",
        scopes={"projects:read": "", "projects:write": ""},
        scope_lines={"projects:read": 1, "projects:write": 2},
    )

    def cascade() -> str:
        apply_apis(sessions, effects, settings, [spec], cascade=True)
        return "applied"

    for attempt in range(4):
        token = issue_token_now(settings, acme.owner, db)
        body = {"name": f"deleter-{attempt}", "scopes": ["projects:delete"]}
        post = functools.partial(client.post, "/roles", headers=bearer(token), json=body)
        _, role = together([cascade, post])
        assert isinstance(role, httpx.Response)
        assert role.status_code in (201, 422), role.text
        db.expire_all()
        assert "projects:delete" not in set(db.scalars(select(RoleScope.scope)))
        assert "projects:delete" not in set(db.scalars(select(ApiScope.name)))
        # Back to the start: the scope registered again, carried by the owner's role.
        db.add(ApiScope(name="projects:delete", api_id=acme.api.id))
        db.flush()
        db.add(RoleScope(tenant_id=acme.tenant.id, role_id=holding.id, scope="projects:delete"))
        db.commit()


def issue_token_now(settings: Settings, user: User, db: Session) -> str:
    """A token for the user's current token version (a cascade bumps it)."""
    db.refresh(user)
    return (
        AccessTokenCodec(settings)
        .issue(
            user_id=user.id,
            tenant_id=user.tenant_id,
            scope=" ".join(sorted(TENANT_SCOPES)),
            token_version=user.token_version,
        )
        .token
    )


def together(calls: list[Callable[[], object]]) -> list[object]:
    """Each call on its own thread, released at once; the answers in the calls' order."""
    barrier = threading.Barrier(len(calls), timeout=JOIN_TIMEOUT_S)
    answers: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
    assert all(answer is not None for answer in answers), "a concurrent call hung"
    return [answer for answer in answers if answer is not None]
