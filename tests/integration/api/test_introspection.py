"""POST /introspect (RFC 7662) through HTTP: active tokens say what they are; every cause
of a cut-off makes a token inactive at once; tenants see only their own tokens, except
the platform tenant's service accounts."""

import base64
import hashlib
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, Tenant, User
from backend.domain.scopes import TENANT_SCOPES
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import (
    DEFAULT_PASSWORD,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
)
from tests.support.platform import create_operator

PROJECTS = "https://api.example.com/projects"
SECRET = "introspection-secret"
OPERATOR_PASSWORD = "violet otters juggle lanterns"


def account(db: Session, tenant: Tenant, scopes: list[str]) -> dict[str, str]:
    """HTTP Basic headers of a new service account whose role carries `scopes`."""
    found = ServiceAccountFactory(
        tenant=tenant,
        roles=[RoleFactory(tenant=tenant, scopes=scopes)],
        secret_hash=hashlib.sha256(SECRET.encode()).digest(),
    )
    db.flush()
    client_id = f"sa_{tenant.id.hex}_{found.id.hex}"
    raw = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@dataclass(frozen=True)
class World:
    acme: Tenant
    # In acme: an owner who also holds projects:read.
    ada: User
    # Basic headers: acme's resource server, globex's, the platform's, and one of
    # acme's that lacks tokens:introspect.
    acme_rs: dict[str, str]
    globex_rs: dict[str, str]
    platform_rs: dict[str, str]
    acme_other: dict[str, str]
    operator: str


@pytest.fixture
def world(client: TestClient, db: Session, effects: Effects, settings: Settings) -> World:
    api = Api(identifier=PROJECTS, name="Projects")
    db.add(api)
    db.flush()
    db.add_all(ApiScope(name=name, api_id=api.id) for name in ("projects:read", "projects:write"))
    acme, globex = TenantFactory(slug="acme"), TenantFactory(slug="globex")
    ada = UserFactory(
        tenant=acme,
        email="ada@acme.test",
        roles=[
            builtin_role(db, acme, "owner"),
            RoleFactory(tenant=acme, name="reader", scopes=["projects:read", "me"]),
        ],
    )
    headers = {
        "acme": account(db, acme, ["tokens:introspect"]),
        "globex": account(db, globex, ["tokens:introspect"]),
        "other": account(db, acme, ["users:read"]),
    }
    db.commit()
    create_operator(db, effects, settings, OPERATOR_PASSWORD)
    platform = db.scalars(select(Tenant).where(Tenant.slug == settings.platform_tenant_slug)).one()
    headers["platform"] = account(db, platform, ["tokens:introspect"])
    db.commit()
    operator = login(client, "platform/ops@platform.test", OPERATOR_PASSWORD).json()
    return World(
        acme,
        ada,
        headers["acme"],
        headers["globex"],
        headers["platform"],
        headers["other"],
        operator["access_token"],
    )


def login(
    client: TestClient, username: str, password: str = DEFAULT_PASSWORD, **extra: str
) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password, **extra}
    return client.post("/token", data=form)


def introspect(
    client: TestClient, headers: dict[str, str], token: str, **extra: str
) -> httpx.Response:
    return client.post("/introspect", data={"token": token, **extra}, headers=headers)


def active(client: TestClient, headers: dict[str, str], token: str) -> bool:
    response = introspect(client, headers, token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    if not body["active"]:
        # Nothing is said about an inactive token.
        assert body == {"active": False}
    return bool(body["active"])


def test_an_active_access_token_says_what_it_is(
    client: TestClient, world: World, settings: Settings
) -> None:
    issued = login(client, "acme/ada@acme.test", scope="users:read me").json()
    response = introspect(client, world.acme_rs, issued["access_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["scope"] == "me users:read"
    assert body["sub"] == str(world.ada.id)
    assert body["tid"] == str(world.acme.id)
    assert body["aud"] == settings.jwt_audience
    assert body["token_type"] == "bearer"
    assert body["exp"] - body["iat"] == issued["expires_in"]
    assert len(body["jti"]) == 32


def test_a_product_token_and_a_refresh_token_are_introspected(
    client: TestClient, world: World, settings: Settings
) -> None:
    issued = login(client, "acme/ada@acme.test", resource=PROJECTS).json()
    access = introspect(client, world.acme_rs, issued["access_token"]).json()
    assert (access["active"], access["aud"], access["scope"]) == (True, PROJECTS, "projects:read")
    refresh = introspect(
        client, world.acme_rs, issued["refresh_token"], token_type_hint="refresh_token"
    ).json()
    assert refresh["active"] is True
    assert refresh["token_type"] == "refresh_token"
    assert (refresh["aud"], refresh["scope"]) == (PROJECTS, "projects:read")
    assert refresh["sub"] == str(world.ada.id)
    # A wrong hint misleads nothing.
    hinted = introspect(
        client, world.acme_rs, issued["access_token"], token_type_hint="refresh_token"
    )
    assert hinted.json()["active"] is True


def test_a_rotated_or_revoked_refresh_token_is_inactive(client: TestClient, world: World) -> None:
    first = login(client, "acme/ada@acme.test").json()["refresh_token"]
    rotated = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first})
    second = rotated.json()["refresh_token"]
    assert not active(client, world.acme_rs, first)
    assert active(client, world.acme_rs, second)
    client.post("/revoke", data={"token": second})
    assert not active(client, world.acme_rs, second)


def test_forged_expired_and_unknown_tokens_are_inactive(
    client: TestClient, world: World, issue_token: object
) -> None:
    issued = login(client, "acme/ada@acme.test").json()["access_token"]
    header, payload, signature = issued.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert callable(issue_token)
    expired = issue_token(world.ada, ["me"], now=1_000_000)
    for token in (tampered, expired, "not-a-token", "rt_" + "x" * 40, issued + "x"):
        assert not active(client, world.acme_rs, token), token
    assert active(client, world.acme_rs, issued)


def test_every_cut_off_makes_the_tokens_inactive_at_once(
    client: TestClient, world: World, db: Session, issue_token: object
) -> None:
    assert callable(issue_token)
    admin = issue_token(world.ada, sorted(TENANT_SCOPES))
    reader = RoleFactory(tenant=world.acme, scopes=["projects:read", "me"])
    bob = UserFactory(tenant=world.acme, email="bob@acme.test", roles=[reader])
    db.commit()

    def tokens() -> dict[str, str]:
        access = login(client, "acme/bob@acme.test").json()
        product = login(client, "acme/bob@acme.test", resource=PROJECTS).json()
        assert active(client, world.acme_rs, access["access_token"])
        assert active(client, world.acme_rs, product["access_token"])
        return {
            "access": access["access_token"],
            "product": product["access_token"],
            "refresh": access["refresh_token"],
        }

    # A role losing a scope (the token version bumped): access tokens inactive; the
    # session lives on, and its next refresh has the new scopes.
    before = tokens()
    cut = client.patch(f"/roles/{reader.id}", headers=bearer(admin), json={"scopes": ["me"]})
    assert cut.status_code == 200, cut.text
    assert not active(client, world.acme_rs, before["access"])
    assert not active(client, world.acme_rs, before["product"])
    assert active(client, world.acme_rs, before["refresh"])

    # The user disabled: everything of theirs.
    client.patch(
        f"/roles/{reader.id}", headers=bearer(admin), json={"scopes": ["me", "projects:read"]}
    )
    before = tokens()
    disabled = client.post(f"/users/{bob.id}/disable", headers=bearer(admin), json={})
    assert disabled.status_code == 200, disabled.text
    for kind, token in before.items():
        assert not active(client, world.acme_rs, token), kind
    enabled = client.post(f"/users/{bob.id}/enable", headers=bearer(admin))
    assert enabled.status_code == 200, enabled.text

    # The tenant suspended: every token of the tenant, to the platform's server too.
    before = tokens()
    suspended = client.post(
        f"/tenants/{world.acme.id}/suspend", headers=bearer(world.operator), json={}
    )
    assert suspended.status_code == 200, suspended.text
    for kind, token in before.items():
        assert not active(client, world.platform_rs, token), kind


def test_a_token_for_a_removed_api_is_inactive(
    client: TestClient, world: World, db: Session
) -> None:
    product = login(client, "acme/ada@acme.test", resource=PROJECTS).json()["access_token"]
    assert active(client, world.acme_rs, product)
    db.execute(ApiScope.__table__.delete())
    db.execute(Api.__table__.delete())
    db.commit()
    assert not active(client, world.acme_rs, product)


def test_tenants_see_only_their_own_tokens_but_the_platform_sees_all(
    client: TestClient, world: World
) -> None:
    issued = login(client, "acme/ada@acme.test", resource=PROJECTS).json()
    for token in (issued["access_token"], issued["refresh_token"]):
        assert active(client, world.acme_rs, token)
        assert not active(client, world.globex_rs, token)
        assert active(client, world.platform_rs, token)


def test_the_caller_must_be_a_service_account_holding_tokens_introspect(
    client: TestClient, world: World
) -> None:
    token = login(client, "acme/ada@acme.test").json()["access_token"]
    anonymous = client.post("/introspect", data={"token": token})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    # A bearer token is no way in, even one with every scope.
    as_user = client.post("/introspect", data={"token": token}, headers=bearer(token))
    assert as_user.status_code == 401
    wrong = dict(world.acme_rs)
    wrong["Authorization"] = wrong["Authorization"][:-4] + "AAAA"
    assert introspect(client, wrong, token).status_code == 401
    lacking = introspect(client, world.acme_other, token)
    assert lacking.status_code == 403
    assert lacking.json()["missing_scopes"] == ["tokens:introspect"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [({}, "token is required"), ({"token": "x", "token_type_hint": "id_token"}, "token_type")],
)
def test_bad_requests_are_400(
    client: TestClient, world: World, data: dict[str, str], reason: str
) -> None:
    response = client.post("/introspect", data=data, headers=world.acme_rs)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert reason in response.json()["error_description"]


def test_an_unknown_service_account_is_invalid_client(client: TestClient, world: World) -> None:
    client_id = f"sa_{uuid.uuid4().hex}_{uuid.uuid4().hex}"
    raw = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    response = introspect(client, {"Authorization": f"Basic {raw}"}, "x")
    assert response.status_code == 401
