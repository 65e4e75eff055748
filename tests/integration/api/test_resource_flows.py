"""Tokens per API through the other grants: the authorization code flow (resource at
/authorize, kept by the code and its session) and the mfa grant (kept by the challenge)."""

from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, LoginSession, User
from backend.devstack.run import docs_client_manifest
from backend.domain.client_manifest import parse_manifest
from backend.services import apis, client_apply
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, RoleFactory, TenantFactory, UserFactory
from tests.support.factors import enrol_totp
from tests.support.sign_in import (
    REDIRECT_URI,
    Pkce,
    authorize_params,
    form_fields,
    query_of,
    register_client,
)

PROJECTS = "https://api.example.com/projects"
MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"


@pytest.fixture
def ada(db: Session) -> User:
    api = Api(identifier=PROJECTS, name="Projects")
    db.add(api)
    db.flush()
    db.add_all(ApiScope(name=name, api_id=api.id) for name in ("projects:read", "projects:write"))
    tenant = TenantFactory(slug="acme", name="Acme")
    user: User = UserFactory(
        tenant=tenant,
        email="ada@acme.test",
        roles=[
            builtin_role(db, tenant, "member"),
            RoleFactory(tenant=tenant, scopes=["projects:read"]),
        ],
    )
    register_client(db, resources=[PROJECTS])
    db.commit()
    return user


def aud_and_scope(settings: Settings, access_token: str) -> tuple[object, object]:
    claims = jwt.decode(
        access_token,
        settings.signing_secret(),
        algorithms=["HS256"],
        options={"verify_aud": False},
    )
    return claims["aud"], claims["scope"]


def code_of(client: TestClient, params: dict[str, str]) -> str:
    """Ada signs in on the hosted page /authorize shows for `params`: the code sent back."""
    page = client.get("/authorize", params=params)
    assert page.status_code == 200, page.text
    fields = form_fields(page) | {"email": "ada@acme.test", "password": DEFAULT_PASSWORD}
    fields.setdefault("tenant", "acme")
    answer = client.post("/authorize", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return query_of(answer.headers["location"])["code"]


def test_the_code_flow_issues_tokens_for_the_resource_it_asked(
    client: TestClient, ada: User, settings: Settings, db: Session
) -> None:
    pkce = Pkce.new()
    params = authorize_params(
        pkce, tenant="acme", scope="offline_access projects:read me", nonce="", resource=PROJECTS
    )
    form = {
        "grant_type": "authorization_code",
        "code": code_of(client, params),
        "redirect_uri": REDIRECT_URI,
        "client_id": "spa",
        "code_verifier": pkce.verifier,
    }
    issued = client.post("/token", data=form)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    # `me` is Tessera's scope, not the projects API's: left out of this token (OpenID
    # Connect's scopes stay with a code-flow token, as for Tessera's own API).
    assert aud_and_scope(settings, body["access_token"]) == (
        PROJECTS,
        "projects:read offline_access",
    )
    # The refresh session keeps the API (the browser's sign-in session is another row).
    families = select(LoginSession.resource).where(LoginSession.browser_secret_hash.is_(None))
    assert db.scalars(families).one() == PROJECTS
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert aud_and_scope(settings, refreshed.json()["access_token"])[0] == PROJECTS


@pytest.mark.parametrize(
    "resource", ["https://api.example.com/nothing", "https://api.example.com/billing"]
)
def test_authorize_refuses_a_resource_the_client_does_not_list(
    client: TestClient, ada: User, resource: str
) -> None:
    params = authorize_params(Pkce.new(), tenant="acme", scope="me", nonce="", resource=resource)
    answer = client.get("/authorize", params=params, follow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    assert query_of(answer.headers["location"])["error"] == "invalid_target"


def test_the_mfa_grant_keeps_the_password_grants_resource(
    client: TestClient,
    ada: User,
    settings: Settings,
    issue_token: Callable[..., str],
) -> None:
    enrolled = enrol_totp(client, issue_token(ada, ["me"]))
    login = {
        "grant_type": "password",
        "username": "acme/ada@acme.test",
        "password": DEFAULT_PASSWORD,
        "resource": PROJECTS,
    }
    challenged = client.post("/token", data=login)
    assert challenged.json()["error"] == "mfa_required", challenged.text
    completed = client.post(
        "/token",
        data={
            "grant_type": MFA_GRANT,
            "mfa_token": challenged.json()["mfa_token"],
            "otp": enrolled.next_code(),
        },
    )
    assert completed.status_code == 200, completed.text
    assert aud_and_scope(settings, completed.json()["access_token"]) == (
        PROJECTS,
        "projects:read",
    )


def test_the_examples_docs_client_signs_in_as_swagger_ui_does(
    client: TestClient, ada: User, settings: Settings, db: Session, operator: User, effects: Effects
) -> None:
    """make run's docs client for examples/projects: Swagger UI's Authorize (the code
    flow with PKCE, `resource` added to /authorize) gets a token the example accepts."""
    origin = "http://127.0.0.1:8001"
    declared = parse_manifest(docs_client_manifest("8001", PROJECTS))
    by = apis.Operator(tenant_id=operator.tenant_id, actor="make run")
    client_apply.apply(db, effects, by, declared, prune=False, own_audience=settings.jwt_audience)
    db.commit()
    pkce = Pkce.new()
    redirect_uri = f"{origin}/docs/oauth2-redirect"
    swagger = {"client_id": "projects-docs", "redirect_uri": redirect_uri, "nonce": ""}
    params = authorize_params(pkce, scope="projects:read", resource=PROJECTS, **swagger)
    form = {
        "grant_type": "authorization_code",
        "code": code_of(client, params),
        "redirect_uri": redirect_uri,
        "client_id": "projects-docs",
        "code_verifier": pkce.verifier,
    }
    tokens = client.post("/token", data=form, headers={"Origin": origin})
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["access-control-allow-origin"] == origin
    assert aud_and_scope(settings, tokens.json()["access_token"]) == (PROJECTS, "projects:read")
