"""Cross-tenant matrix over the whole HTTP API, generated from the app's OpenAPI schema.

A token from tenant A with ids from tenant B must get 404 on every route that takes an
id (not 403, which would confirm the id exists), and no response to A may carry B's
rows. A route added later is picked up automatically; one the matrix cannot classify
or fill in fails `test_every_route_is_covered`, so it cannot be forgotten.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import (
    ApiKey,
    Factor,
    Job,
    LoginSession,
    Role,
    ServiceAccount,
    Tenant,
    User,
)
from backend.domain.scopes import TENANT_SCOPES
from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import (
    ApiKeyFactory,
    FactorFactory,
    JobFactory,
    LoginSessionFactory,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
)

# Routes that take no id and are not about tenant data, or only about the principal.
PUBLIC = {
    ("POST", "/token"),
    ("POST", "/revoke"),
    # A service account's, by HTTP Basic: its refusal of other tenants' tokens is in
    # test_introspection.py.
    ("POST", "/introspect"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/.well-known/openid-configuration"),
    # The bearer's own claims, and only with `openid`: no id to reach another tenant by
    # (tests/integration/api/test_sign_in.py, tests/e2e/test_oidc_client.py).
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    # Unauthenticated: the invitation token names its tenant (tests/.../test_invitations.py).
    ("POST", "/invitations/accept"),
    # Unauthenticated too: the mailed token names its tenant (tests/integration/mail/).
    ("POST", "/password-resets"),
    ("POST", "/password-resets/confirm"),
    ("POST", "/email-verifications/confirm"),
    # Unauthenticated: the mfa_token names its tenant and user (test_passkeys.py).
    ("POST", "/mfa/webauthn/options"),
}
SELF = {("GET", "/me"), ("GET", "/me/sessions"), ("GET", "/me/factors")}
# Routes that change only the principal's own account and take no id.
SELF_WRITES = {
    ("PATCH", "/me/password"),
    ("POST", "/me/email-verification"),
    ("POST", "/me/factors/totp"),
    ("POST", "/me/factors/totp/confirm"),
    ("POST", "/me/factors/webauthn"),
    ("POST", "/me/factors/webauthn/confirm"),
    ("POST", "/me/factors/recovery-codes"),
}
# Platform routes are not tenant-scoped: only the platform tenant's operators may call
# them, and any other tenant's principal gets 403 insufficient_scope, which reveals nothing.
PLATFORM = {
    ("GET", "/tenants"),
    ("POST", "/tenants"),
    ("GET", "/tenants/{id}"),
    ("PATCH", "/tenants/{id}"),
    ("POST", "/tenants/{id}/suspend"),
    ("POST", "/tenants/{id}/reactivate"),
    ("GET", "/apis"),
    ("POST", "/apis"),
    ("GET", "/apis/{id}"),
    ("PATCH", "/apis/{id}"),
    ("DELETE", "/apis/{id}"),
    ("GET", "/clients"),
    ("POST", "/clients"),
    ("GET", "/clients/{id}"),
    ("PATCH", "/clients/{id}"),
    ("DELETE", "/clients/{id}"),
    # The standings feed: its refusal of other tenants is in test_standings.py.
    ("GET", "/standings"),
    ("GET", "/standings/stream"),
}
# GET routes without an id that list a tenant's rows; the matrix checks none of B's leak.
LISTS: set[tuple[str, str]] = {
    ("GET", "/service-accounts"),
    ("GET", "/api-keys"),
    ("GET", "/users"),
    ("GET", "/audit-events"),
    ("GET", "/jobs"),
    ("GET", "/lifecycle/preview"),
    ("GET", "/roles"),
    # The catalogue holds no tenant rows; listed so that stays checked.
    ("GET", "/scopes"),
}
# Request bodies for id routes that need one, so the 404 is not pre-empted by a 422.
BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/users/{id}/offboard"): {},
    ("PATCH", "/users/{id}"): {"full_name": "Renamed"},
    ("POST", "/users/{id}/disable"): {"reason": "cross-tenant probe"},
    ("POST", "/users/{id}/enable"): {},
    ("POST", "/users/{id}/unlock"): {},
    ("PATCH", "/roles/{id}"): {"description": "cross-tenant probe"},
    ("PUT", "/users/{id}/roles/{role_id}"): {},
    ("POST", "/users/{id}/factors/reset"): {},
}

PARAM = re.compile(r"\{([^}]+)\}")


def _routes() -> list[tuple[str, str]]:
    schema = create_app(Settings()).openapi()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    )


ROUTES = _routes()
ID_ROUTES = [route for route in ROUTES if PARAM.search(route[1]) and route not in PLATFORM]


@dataclass(frozen=True)
class Tenants:
    a_owner: User
    b_user: User
    b_role: Role
    b_tenant: Tenant
    b_session: LoginSession
    b_account: ServiceAccount
    b_key: ApiKey
    b_job: Job
    b_factor: Factor

    def b_markers(self) -> list[str]:
        return [
            str(self.b_user.id),
            str(self.b_role.id),
            str(self.b_tenant.id),
            str(self.b_session.id),
            str(self.b_account.id),
            str(self.b_key.id),
            str(self.b_job.id),
            str(self.b_factor.id),
            self.b_user.email,
        ]


# Which of B's ids fills a path parameter, by the resource the parameter names.
ID_OF: dict[str, Callable[[Tenants], uuid.UUID]] = {
    "users": lambda t: t.b_user.id,
    "user_id": lambda t: t.b_user.id,
    "roles": lambda t: t.b_role.id,
    "role_id": lambda t: t.b_role.id,
    "tenants": lambda t: t.b_tenant.id,
    "tenant_id": lambda t: t.b_tenant.id,
    # APIs are platform reference data: any id will do, the platform scope refuses first.
    "apis": lambda t: t.b_tenant.id,
    # No tenant owns a client: any id, which the platform guard refuses before a lookup.
    "clients": lambda t: uuid.UUID(int=1),
    "sessions": lambda t: t.b_session.id,
    "jobs": lambda t: t.b_job.id,
    "service-accounts": lambda t: t.b_account.id,
    "api-keys": lambda t: t.b_key.id,
    "factors": lambda t: t.b_factor.id,
}

# Routes that create in the principal's own tenant, with a body naming B's ids where it
# can, and the answer expected: B's ids are not found, and nothing of B comes back.
CREATES: dict[tuple[str, str], tuple[Callable[["Tenants"], dict[str, object]], int]] = {
    ("POST", "/service-accounts"): (
        lambda t: {"name": "robot", "role_ids": [str(t.b_role.id)]},
        404,
    ),
    ("POST", "/api-keys"): (lambda t: {"name": "script", "scopes": ["me"]}, 201),
    ("POST", "/users"): (lambda t: {"email": "new@alpha.test", "invite": True}, 201),
    # B's user is not among A's: the job matches nobody.
    ("POST", "/users/bulk-disable"): (lambda t: {"user_ids": [str(t.b_user.id)]}, 202),
    # Including B's role: it is not among A's roles.
    ("POST", "/roles"): (lambda t: {"name": "sneaky", "includes": [str(t.b_role.id)]}, 404),
}


def resource_for(path: str, param: str) -> str:
    """`{id}` takes the name of the segment before it; `{user_id}` names itself."""
    if param != "id":
        return param
    return path[: path.index("{id}")].rstrip("/").rsplit("/", 1)[-1]


def fill(path: str, tenants: Tenants) -> str:
    def substitute(match: re.Match[str]) -> str:
        return str(ID_OF[resource_for(path, match.group(1))](tenants))

    return PARAM.sub(substitute, path)


@pytest.fixture
def tenants(db: Session) -> Tenants:
    a, b = TenantFactory(slug="alpha"), TenantFactory(slug="bravo")
    a_owner = UserFactory(tenant=a, roles=[builtin_role(db, a, "owner")])
    b_role = RoleFactory(tenant=b)
    b_user = UserFactory(tenant=b, email="secret@bravo.test", roles=[b_role])
    b_session = LoginSessionFactory(user=b_user)
    b_account = ServiceAccountFactory(tenant=b, roles=[b_role])
    b_key = ApiKeyFactory(creator=b_user)
    b_job = JobFactory(tenant=b)
    b_factor = FactorFactory(user=b_user)
    # A's own session too, so the sessions list has rows to leak from if it would.
    LoginSessionFactory(user=a_owner)
    db.commit()
    return Tenants(
        a_owner=a_owner,
        b_user=b_user,
        b_role=b_role,
        b_tenant=b,
        b_session=b_session,
        b_account=b_account,
        b_key=b_key,
        b_job=b_job,
        b_factor=b_factor,
    )


def test_every_route_is_covered() -> None:
    known = PUBLIC | SELF | SELF_WRITES | PLATFORM | LISTS | set(CREATES) | set(ID_ROUTES)
    unclassified = [r for r in ROUTES if r not in known]
    assert not unclassified, f"classify these routes in the cross-tenant matrix: {unclassified}"
    for method, path in ID_ROUTES:
        for param in PARAM.findall(path):
            assert resource_for(path, param) in ID_OF, f"teach ID_OF about {param} in {path}"
        if method in {"POST", "PUT", "PATCH"}:
            assert (method, path) in BODIES, f"give BODIES a valid body for {method} {path}"
    assert ("POST", "/token") in ROUTES
    assert ("GET", "/me") in ROUTES


CallAsA = Callable[[str, str, dict[str, object] | None], httpx.Response]


@pytest.fixture
def as_a(client: TestClient, tenants: Tenants, issue_token: Callable[..., str]) -> CallAsA:
    """Call the API as tenant A's owner, with every tenant scope."""
    token = issue_token(tenants.a_owner, sorted(TENANT_SCOPES))

    def call(method: str, path: str, body: dict[str, object] | None) -> httpx.Response:
        return client.request(method, path, headers=bearer(token), json=body)

    return call


def assert_nothing_of_b(response: httpx.Response, tenants: Tenants) -> None:
    for marker in tenants.b_markers():
        assert marker not in response.text


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_other_tenants_ids_are_not_found(
    as_a: CallAsA, tenants: Tenants, method: str, path: str
) -> None:
    response = as_a(method, fill(path, tenants), BODIES.get((method, path)))
    assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
    assert_nothing_of_b(response, tenants)


@pytest.mark.parametrize(("method", "path"), sorted(LISTS | SELF))
def test_responses_to_a_never_carry_b_rows(
    as_a: CallAsA, tenants: Tenants, method: str, path: str
) -> None:
    response = as_a(method, path, None)
    assert response.status_code == 200, response.text
    assert_nothing_of_b(response, tenants)


@pytest.mark.parametrize(("method", "path"), sorted(CREATES))
def test_creating_never_reaches_into_b(
    as_a: CallAsA, tenants: Tenants, method: str, path: str
) -> None:
    body, expected = CREATES[(method, path)]
    response = as_a(method, path, body(tenants))
    assert response.status_code == expected, response.text
    assert_nothing_of_b(response, tenants)


@pytest.mark.parametrize(("method", "path"), sorted(PLATFORM))
def test_platform_routes_refuse_a_tenants_owner(
    as_a: CallAsA, tenants: Tenants, method: str, path: str
) -> None:
    response = as_a(method, fill(path, tenants), {"name": "probe"})
    assert response.status_code == 403, f"{method} {path}: {response.status_code} {response.text}"
    assert response.json()["error"] == "insufficient_scope"
    assert_nothing_of_b(response, tenants)
