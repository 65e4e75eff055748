"""What the hosted sign-in refuses, beyond test_sign_in.py: the password grant's lockout
and rate limit on the page, CSRF on the logout form, open redirects through the logout
parameters, text a stored field may not hold, a confidential client's secret, a client
the code flow is not allowed to."""

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import AuthorizationCode, Tenant, User
from backend.domain.clients import ClientType
from backend.main import create_app
from backend.security.opaque import new_secret
from backend.services import clients
from backend.settings import Settings
from tests.factories import DEFAULT_PASSWORD, ClientFactory, UserFactory
from tests.support import sign_in as flow

WRONG = "not the password at all"


def test_wrong_passwords_on_the_page_lock_the_account_for_token_too(
    web: TestClient, user: User, db: Session
) -> None:
    db.get_one(Tenant, user.tenant_id).policy = {"lockout_threshold": 3}
    db.commit()
    params = flow.authorize_params(flow.Pkce.new(), tenant="acme")
    for _ in range(3):
        assert flow.sign_in(web, params, password=WRONG).status_code == 400
    locked = flow.sign_in(web, params)
    assert locked.status_code == 400
    assert "invalid username or password" in locked.text
    token = web.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/ada@acme.test",
            "password": DEFAULT_PASSWORD,
        },
    )
    assert token.json()["error"] == "invalid_grant"


def test_the_page_counts_against_the_token_rate_limit(settings: Settings, user: User) -> None:
    limited = settings.model_copy(
        update={
            "jwt_algorithm": "EdDSA",
            "jwt_issuer": flow.ISSUER,
            "token_rate_limit_per_minute": 2,
        }
    )
    with TestClient(create_app(limited), follow_redirects=False) as app:
        params = flow.authorize_params(flow.Pkce.new(), tenant="acme")
        answers = [flow.sign_in(app, params, password=WRONG).status_code for _ in range(3)]
    assert answers == [400, 400, 429]


def test_the_logout_confirmation_needs_its_csrf_token(web: TestClient, user: User) -> None:
    flow.code_for(web, flow.Pkce.new())
    confirm = web.get("/logout")
    assert confirm.status_code == 200
    fields = flow.form_fields(confirm)
    forged = web.post("/logout", data=fields | {"csrf_token": "0" * 64})
    assert forged.status_code == 403
    # Still signed in: the next request gets a code without the form.
    assert web.get("/authorize", params=flow.authorize_params(flow.Pkce.new())).status_code == 303
    done = web.post("/logout", data=flow.form_fields(web.get("/logout")))
    assert done.status_code == 200
    assert "You are signed out" in done.text
    assert web.get("/authorize", params=flow.authorize_params(flow.Pkce.new())).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"post_logout_redirect_uri": "https://evil.test/"},
        {"post_logout_redirect_uri": flow.LOGOUT_URI},  # no client named
        {"post_logout_redirect_uri": flow.LOGOUT_URI + "evil", "client_id": "spa"},
        {"post_logout_redirect_uri": "//evil.test/", "client_id": "spa"},
        {"post_logout_redirect_uri": flow.LOGOUT_URI, "client_id": "nobody"},
        {"post_logout_redirect_uri": flow.LOGOUT_URI, "id_token_hint": "not.a.jwt"},
    ],
)
def test_logout_never_redirects_where_no_client_registered(
    web: TestClient, user: User, params: dict[str, str]
) -> None:
    answer = web.get("/logout", params=params)
    assert answer.status_code == 400
    assert "location" not in answer.headers


def test_a_registered_logout_uri_with_client_id_redirects_with_state(
    web: TestClient, user: User
) -> None:
    answer = web.get(
        "/logout",
        params={"post_logout_redirect_uri": flow.LOGOUT_URI, "client_id": "spa", "state": "s"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == flow.LOGOUT_URI + "?state=s"


@pytest.mark.parametrize("field", ["state", "nonce"])
# (A lone surrogate cannot cross HTTP: a query is bytes, decoded as UTF-8.)
@pytest.mark.parametrize("text", ["nul \x00 byte", "x" * 501])
def test_text_no_column_may_hold_is_refused_before_any_code(
    web: TestClient, user: User, db: Session, field: str, text: str
) -> None:
    flow.code_for(web, flow.Pkce.new())
    url = httpx.URL("/authorize", params=flow.authorize_params(flow.Pkce.new()) | {field: text})
    answer = web.get(str(url))
    assert 400 <= answer.status_code < 500
    assert db.scalar(select(func.count()).select_from(AuthorizationCode)) == 1


def test_a_confidential_client_exchanges_with_its_secret(
    web: TestClient, user: User, db: Session
) -> None:
    portal = ClientFactory(client_id="portal", type=ClientType.CONFIDENTIAL)
    issued = new_secret(clients.SECRET_KIND, portal.id)
    portal.secret_hash = issued.digest
    db.commit()
    secret = issued.value
    pkce = flow.Pkce.new()
    code = flow.code_for(web, pkce, client_id="portal")
    without = flow.exchange(web, code, pkce, client_id="portal")
    assert without.json()["error"] == "invalid_client"
    web.cookies.clear()
    code = flow.code_for(web, pkce, client_id="portal")
    basic = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.REDIRECT_URI,
            "code_verifier": pkce.verifier,
        },
        auth=("portal", secret),
    )
    assert basic.status_code == 200, basic.text


def test_a_client_without_the_code_grant_is_told_so_at_its_redirect_uri(
    web: TestClient, user: User, db: Session
) -> None:
    ClientFactory(client_id="script", grant_types=["password"])
    db.commit()
    answer = web.get(
        "/authorize", params=flow.authorize_params(flow.Pkce.new(), client_id="script")
    )
    assert answer.status_code == 303
    assert flow.query_of(answer.headers["location"])["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("tenant", "email"),
    [("acme", "ada@acme.test"), ("acme", "nobody@acme.test"), ("nowhere", "ada@acme.test")],
    ids=["wrong-password", "unknown-email", "unknown-tenant"],
)
def test_every_failure_on_the_page_costs_one_argon2_verification(
    web: TestClient, user: User, argon2_verifications: list[str], tenant: str, email: str
) -> None:
    """The same work whether the email or the tenant exists: no timing tells them apart."""
    page = web.get("/authorize", params=flow.authorize_params(flow.Pkce.new()))
    fields = flow.form_fields(page) | {"tenant": tenant, "email": email, "password": WRONG}
    answer = web.post("/authorize", data=fields)
    assert answer.status_code == 400
    assert "invalid username or password" in answer.text
    assert len(argon2_verifications) == 1
    assert argon2_verifications[0].startswith("$argon2id$")


def test_a_confirmed_logout_finds_the_client_by_the_hints_aud(
    web: TestClient, user: User, db: Session
) -> None:
    # Ann's id_token as the hint while Ada is signed in: the person confirms, and the form
    # sends the absent client_id back empty, which must not hide the hint's aud.
    UserFactory(tenant=db.get_one(Tenant, user.tenant_id), email="ann@acme.test")
    db.commit()
    pkce = flow.Pkce.new()
    params = flow.authorize_params(pkce, tenant="acme")
    fields = flow.form_fields(web.get("/authorize", params=params))
    ann = web.post(
        "/authorize", data=fields | {"email": "ann@acme.test", "password": DEFAULT_PASSWORD}
    )
    code = flow.query_of(ann.headers["location"])["code"]
    hint = flow.exchange(web, code, pkce).json()["id_token"]
    web.cookies.clear()
    flow.code_for(web, flow.Pkce.new())
    confirm = web.get(
        "/logout", params={"post_logout_redirect_uri": flow.LOGOUT_URI, "id_token_hint": hint}
    )
    assert confirm.status_code == 200, confirm.text
    done = web.post("/logout", data=flow.form_fields(confirm))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == flow.LOGOUT_URI
