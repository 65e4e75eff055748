"""Browser sign-in (issue 18, items 2 to 6): /authorize with PKCE and the hosted page, the
code exchange at /token, the browser session, OpenID Connect and CORS, in-process.

The app signs with EdDSA (the flow needs an asymmetric key ring) and names itself
http://testserver, as a deployment names its public URL."""

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, LoginSession, Tenant, TenantStatus, User, UserStatus
from tests.factories import DEFAULT_PASSWORD
from tests.support.sign_in import (
    ISSUER,
    LOGOUT_URI,
    ORIGIN,
    REDIRECT_URI,
    Pkce,
    authorize_params,
    code_for,
    exchange,
    form_fields,
    query_of,
    register_client,
    target_of,
)


def test_the_whole_flow_signs_in_and_issues_an_id_token(web: TestClient, user: User) -> None:
    pkce = Pkce.new()
    params = authorize_params(pkce, tenant="acme")
    page = web.get("/authorize", params=params)
    assert page.status_code == 200
    assert "Sign in to Acme Corp" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # Browsers hold the form's redirect to form-action: the client's origin, and no other.
    assert "form-action 'self' http://127.0.0.1:5173;" in page.headers["content-security-policy"]
    fields = form_fields(page) | {"email": "ada@acme.test", "password": DEFAULT_PASSWORD}
    answer = web.post("/authorize", data=fields)
    assert answer.status_code == 303
    assert target_of(answer.headers["location"]) == REDIRECT_URI
    query = query_of(answer.headers["location"])
    assert query["state"] == params["state"]
    cookie = answer.headers["set-cookie"]
    assert "tessera_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Domain" not in cookie

    tokens = exchange(web, query["code"], pkce)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert tokens.headers["cache-control"] == "no-store"
    assert set(body["scope"].split()) == {"me", "openid", "profile", "email", "offline_access"}
    assert body["refresh_token"]
    jwks = jwt.PyJWKSet.from_dict(web.get("/.well-known/jwks.json").json())
    claims = jwt.decode(
        body["id_token"], jwks.keys[0].key, algorithms=["EdDSA"], audience="spa", issuer=ISSUER
    )
    assert claims["sub"] == str(user.id)
    assert claims["tid"] == str(user.tenant_id)
    assert claims["nonce"] == params["nonce"]
    assert claims["email"] == "ada@acme.test"
    assert claims["name"] == "Ada Lovelace"
    assert {"auth_time", "at_hash", "iat", "exp"} <= claims.keys()

    me = web.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.json() == {
        "sub": str(user.id),
        "tid": str(user.tenant_id),
        "email": "ada@acme.test",
        "email_verified": False,
        "name": "Ada Lovelace",
    }
    refreshed = web.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert "openid" in refreshed.json()["scope"].split()


def test_a_second_request_skips_the_form_and_prompts_behave(web: TestClient, user: User) -> None:
    code_for(web, Pkce.new())
    again = web.get("/authorize", params=authorize_params(Pkce.new()))
    assert again.status_code == 303
    assert "code" in query_of(again.headers["location"])
    forced = web.get("/authorize", params=authorize_params(Pkce.new(), prompt="login"))
    assert forced.status_code == 200
    assert "<form" in forced.text
    other_tenant = web.get("/authorize", params=authorize_params(Pkce.new(), tenant="globex"))
    assert other_tenant.status_code == 200
    web.cookies.clear()
    silent = web.get("/authorize", params=authorize_params(Pkce.new(), prompt="none", state="s1"))
    assert silent.status_code == 303
    answer = query_of(silent.headers["location"])
    assert (answer["error"], answer["state"]) == ("login_required", "s1")


def test_the_browser_session_is_listed_and_every_cut_off_ends_it(
    web: TestClient, user: User, db: Session
) -> None:
    pkce = Pkce.new()
    tokens = exchange(web, code_for(web, pkce), pkce).json()
    listed = web.get("/me/sessions", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert sorted(s["kind"] for s in listed.json()) == ["browser", "refresh"]
    session = db.scalar(select(LoginSession).where(LoginSession.browser_secret_hash.is_not(None)))
    assert session is not None

    def skips() -> bool:
        return web.get("/authorize", params=authorize_params(Pkce.new())).status_code == 303

    assert skips()
    db.get_one(User, (user.tenant_id, user.id)).status = UserStatus.DISABLED
    db.commit()
    assert not skips()
    db.get_one(User, (user.tenant_id, user.id)).status = UserStatus.ACTIVE
    db.get_one(Tenant, user.tenant_id).status = TenantStatus.SUSPENDED
    db.commit()
    assert not skips()
    db.get_one(Tenant, user.tenant_id).status = TenantStatus.ACTIVE
    db.commit()
    assert skips()
    changed = web.patch(
        "/me/password",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a much newer passphrase"},
    )
    assert changed.status_code == 204, changed.text
    assert not skips()


def test_a_reused_code_fails_and_revokes_what_the_first_use_issued(
    web: TestClient, user: User, db: Session
) -> None:
    pkce = Pkce.new()
    code = code_for(web, pkce)
    first = exchange(web, code, pkce).json()
    second = exchange(web, code, pkce)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    refreshed = web.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 400
    me = web.get("/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.status_code == 401
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.code_reused")).all()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code_verifier": "x" * 43}, "wrong verifier"),
        ({"code_verifier": ""}, "missing verifier"),
        ({"redirect_uri": "http://127.0.0.1:5173/other"}, "altered redirect"),
        ({"client_id": "other"}, "another client"),
    ],
)
def test_exchange_refusals(
    web: TestClient, user: User, db: Session, overrides: dict[str, str], reason: str
) -> None:
    register_client(db, "other")
    pkce = Pkce.new()
    code = code_for(web, pkce)
    refused = exchange(web, code, pkce, **overrides)
    assert refused.status_code == 400, reason
    assert refused.json()["error"] == "invalid_grant", reason
    # Tried once, the code is spent: the right exchange fails now too.
    assert exchange(web, code, pkce).status_code == 400


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://evil.test/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": REDIRECT_URI + "?x=1"},
        {"redirect_uri": "http://127.0.0.1:5173/callback#frag"},
        {"redirect_uri": ""},
        {"client_id": "nobody"},
        {"client_id": ""},
    ],
)
def test_an_untrusted_client_or_redirect_uri_gets_an_error_page(
    web: TestClient, user: User, overrides: dict[str, str]
) -> None:
    answer = web.get("/authorize", params=authorize_params(Pkce.new(), **overrides))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "cannot be used" in answer.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid nonsense:scope"}, "invalid_scope"),
        ({"resource": "https://api.other.test"}, "invalid_target"),
        ({"prompt": "consent"}, "invalid_request"),
    ],
)
def test_other_refusals_go_back_to_the_client_with_the_state(
    web: TestClient, user: User, overrides: dict[str, str], error: str
) -> None:
    params = authorize_params(Pkce.new(), **overrides)
    answer = web.get("/authorize", params=params)
    assert answer.status_code == 303
    assert target_of(answer.headers["location"]) == REDIRECT_URI
    query = query_of(answer.headers["location"])
    assert query["error"] == error
    assert query["state"] == params["state"]


def test_the_form_refuses_without_csrf_and_reveals_nothing_on_bad_credentials(
    web: TestClient, user: User
) -> None:
    params = authorize_params(Pkce.new(), tenant="acme")
    page = web.get("/authorize", params=params)
    fields = form_fields(page) | {"email": "ada@acme.test", "password": DEFAULT_PASSWORD}
    forged = web.post("/authorize", data=fields | {"csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert "location" not in forged.headers
    missing = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert web.post("/authorize", data=missing).status_code == 403
    # Each refused form came back with a new CSRF pair; the next post uses it.
    fresh = fields | form_fields(web.get("/authorize", params=params))
    wrong = web.post("/authorize", data=fresh | {"password": "not the password at all"})
    fresh = fields | form_fields(web.get("/authorize", params=params))
    unknown = web.post("/authorize", data=fresh | {"email": "nobody@acme.test"})
    assert wrong.status_code == unknown.status_code == 400
    assert "invalid username or password" in wrong.text
    assert "invalid username or password" in unknown.text
    assert 'role="alert"' in wrong.text


def test_discovery_logout_and_cors(web: TestClient, user: User) -> None:
    config = web.get("/.well-known/openid-configuration", headers={"Origin": ORIGIN})
    assert config.status_code == 200
    document = config.json()
    assert document["issuer"] == ISSUER
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert config.headers["access-control-allow-origin"] == ORIGIN
    foreign = web.get("/.well-known/openid-configuration", headers={"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in foreign.headers
    preflight = web.options(
        "/token", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    refused = web.options(
        "/token", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in refused.headers

    pkce = Pkce.new()
    tokens = exchange(web, code_for(web, pkce), pkce).json()
    evil = web.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.test/",
        },
    )
    assert evil.status_code == 400
    assert "location" not in evil.headers
    out = web.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "bye",
        },
    )
    assert out.status_code == 303
    assert out.headers["location"] == LOGOUT_URI + "?state=bye"
    assert web.get("/authorize", params=authorize_params(Pkce.new())).status_code == 200
