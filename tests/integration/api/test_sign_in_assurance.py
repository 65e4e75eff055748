"""How a hosted sign-in authenticated travels with its code (issue 19 item 4): `amr`,
`acr` and `auth_time` in the access token, the id_token and every refresh; OpenID
Connect `acr_values` (a step-up on a live browser session) and `max_age`."""

from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, LoginSession, User
from tests.factories import DEFAULT_PASSWORD
from tests.support.factors import Enrolled, enrol_totp
from tests.support.sign_in import (
    Pkce,
    authorize_params,
    code_for,
    exchange,
    form_fields,
    query_of,
    sign_in,
)

IssueToken = Callable[..., str]
MFA = "urn:tessera:acr:mfa"
PWD = "urn:tessera:acr:pwd"


@pytest.fixture
def enrolled(client: TestClient, user: User, issue_token: IssueToken) -> Enrolled:
    return enrol_totp(client, issue_token(user, ["me"]))


def unverified(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def tokens_of(web: TestClient, answer: httpx.Response, pkce: Pkce) -> dict[str, str]:
    assert answer.status_code == 303, answer.text
    tokens = exchange(web, query_of(answer.headers["location"])["code"], pkce)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, str] = tokens.json()
    return body


def assert_methods(tokens: dict[str, str], amr: list[str], acr: str) -> None:
    for token in (tokens["access_token"], tokens["id_token"]):
        claims = unverified(token)
        assert (claims["amr"], claims["acr"]) == (amr, acr)


def refreshed(web: TestClient, tokens: dict[str, str]) -> dict[str, object]:
    answer = web.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert answer.status_code == 200, answer.text
    return unverified(answer.json()["access_token"])


def with_factor(
    web: TestClient, enrolled: Enrolled, params: dict[str, str], **factor: str
) -> httpx.Response:
    answer = sign_in(web, params)
    assert "Confirm it is you" in answer.text, answer.text
    return web.post("/authorize/second-factor", data=form_fields(answer) | factor)


def test_a_password_sign_in_carries_pwd_everywhere(web: TestClient, user: User) -> None:
    pkce = Pkce.new()
    tokens = tokens_of(web, sign_in(web, authorize_params(pkce, tenant="acme")), pkce)
    assert_methods(tokens, ["pwd"], PWD)
    assert isinstance(unverified(tokens["id_token"])["auth_time"], int)
    assert refreshed(web, tokens)["amr"] == ["pwd"]


def test_a_second_factor_travels_with_the_code_the_refreshes_and_the_session(
    web: TestClient, enrolled: Enrolled, db: Session
) -> None:
    pkce = Pkce.new()
    params = authorize_params(pkce, tenant="acme")
    tokens = tokens_of(web, with_factor(web, enrolled, params, otp=enrolled.next_code()), pkce)
    assert_methods(tokens, ["pwd", "otp", "mfa"], MFA)
    assert refreshed(web, tokens)["amr"] == ["pwd", "otp", "mfa"]
    first_auth_time = unverified(tokens["id_token"])["auth_time"]
    # The browser session signs in again without the factor, and says how it first did.
    again = Pkce.new()
    sso = web.get("/authorize", params=authorize_params(again))
    sso_tokens = tokens_of(web, sso, again)
    assert_methods(sso_tokens, ["pwd", "otp", "mfa"], MFA)
    assert unverified(sso_tokens["id_token"])["auth_time"] == first_auth_time
    browser = db.scalar(select(LoginSession).where(LoginSession.browser_secret_hash.is_not(None)))
    assert browser is not None
    assert browser.amr == "pwd otp mfa"


def test_a_recovery_code_is_mfa_without_otp(web: TestClient, enrolled: Enrolled) -> None:
    pkce = Pkce.new()
    params = authorize_params(pkce, tenant="acme")
    answer = with_factor(web, enrolled, params, recovery_code=enrolled.recovery_codes[0])
    assert_methods(tokens_of(web, answer, pkce), ["pwd", "mfa"], MFA)


def test_acr_values_steps_a_password_session_up_without_the_password(
    web: TestClient, client: TestClient, user: User, db: Session, issue_token: IssueToken
) -> None:
    code_for(web, Pkce.new())
    enrolled = enrol_totp(client, issue_token(user, ["me"]))
    # Without acr_values the session answers at once, as it was: a password.
    plain = Pkce.new()
    assert_methods(
        tokens_of(web, web.get("/authorize", params=authorize_params(plain)), plain), ["pwd"], PWD
    )
    silent = web.get(
        "/authorize", params=authorize_params(Pkce.new(), acr_values=MFA, prompt="none", state="s1")
    )
    assert query_of(silent.headers["location"]) | {"error_description": ""} == {
        "error": "interaction_required",
        "state": "s1",
        "error_description": "",
    }
    pkce = Pkce.new()
    page = web.get("/authorize", params=authorize_params(pkce, acr_values=MFA))
    assert page.status_code == 200
    assert "Confirm it is you" in page.text
    assert 'name="password"' not in page.text
    done = web.post(
        "/authorize/second-factor", data=form_fields(page) | {"otp": enrolled.next_code()}
    )
    # The session is raised, not replaced: no new cookie.
    assert "tessera_session" not in done.headers.get("set-cookie", "")
    assert_methods(tokens_of(web, done, pkce), ["pwd", "otp", "mfa"], MFA)
    # One browser session, raised: the next sign-in carries the factor too.
    browsers = db.scalars(
        select(LoginSession).where(LoginSession.browser_secret_hash.is_not(None))
    ).all()
    assert [b.amr for b in browsers] == ["pwd otp mfa"]
    after = Pkce.new()
    assert_methods(
        tokens_of(web, web.get("/authorize", params=authorize_params(after)), after),
        ["pwd", "otp", "mfa"],
        MFA,
    )
    actions = db.scalars(select(AuditEvent.action)).all()
    assert "session.stepped_up" in actions


def test_acr_values_a_user_without_a_factor_cannot_meet_is_refused(
    web: TestClient, user: User
) -> None:
    params = authorize_params(Pkce.new(), tenant="acme", acr_values=MFA, state="s2")
    refused = sign_in(web, params)
    assert refused.status_code == 303
    query = query_of(refused.headers["location"])
    assert (query["error"], query["state"]) == ("unmet_authentication_requirements", "s2")
    assert "tessera_session" not in refused.headers.get("set-cookie", "")
    # With a browser session of a password, the same.
    code_for(web, Pkce.new())
    again = web.get("/authorize", params=authorize_params(Pkce.new(), acr_values=MFA))
    assert query_of(again.headers["location"])["error"] == "unmet_authentication_requirements"


def test_acr_values_the_session_already_meets_or_tessera_does_not_know_ask_nothing(
    web: TestClient, user: User
) -> None:
    code_for(web, Pkce.new())
    for acr_values in (PWD, f"{MFA} {PWD}", "urn:example:unknown", "urn:example:x " + PWD):
        answer = web.get("/authorize", params=authorize_params(Pkce.new(), acr_values=acr_values))
        assert "code" in query_of(answer.headers["location"]), acr_values


def test_max_age_asks_again_for_a_session_older_than_it(web: TestClient, user: User) -> None:
    code_for(web, Pkce.new())
    fresh = web.get("/authorize", params=authorize_params(Pkce.new(), max_age="3600"))
    assert "code" in query_of(fresh.headers["location"])
    # Every session is older than 0 seconds by the time it is used.
    stale = web.get("/authorize", params=authorize_params(Pkce.new(), max_age="0"))
    assert stale.status_code == 200
    assert 'name="password"' in stale.text
    assert form_fields(stale)["max_age"] == "0"
    silent = web.get("/authorize", params=authorize_params(Pkce.new(), max_age="0", prompt="none"))
    assert query_of(silent.headers["location"])["error"] == "login_required"
    credentials = {"tenant": "acme", "email": "ada@acme.test", "password": DEFAULT_PASSWORD}
    signed = web.post("/authorize", data=form_fields(stale) | credentials)
    assert signed.status_code == 303
    assert "code" in query_of(signed.headers["location"])


@pytest.mark.parametrize("max_age", ["-1", "1.5", "abc", "١٢", "9" * 400])
def test_a_bad_max_age_is_invalid_request_but_a_huge_one_is_a_ceiling(
    web: TestClient, user: User, max_age: str
) -> None:
    code_for(web, Pkce.new())
    answer = web.get("/authorize", params=authorize_params(Pkce.new(), max_age=max_age))
    assert answer.status_code == 303
    error = query_of(answer.headers["location"]).get("error")
    assert error == (None if max_age.isascii() and max_age.isdigit() else "invalid_request")


@pytest.mark.parametrize("value", ["a%00b", "x" * 501])
@pytest.mark.parametrize("name", ["acr_values", "max_age"])
def test_unstorable_or_huge_values_are_4xx(
    web: TestClient, user: User, name: str, value: str
) -> None:
    query = urlencode(authorize_params(Pkce.new()))
    answer = web.get(f"/authorize?{query}&{name}={value}")
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("value", ["%ED%A0%80", "%F0%9F", "%C0%AF"])
def test_bytes_that_are_not_utf8_ask_for_nothing(web: TestClient, user: User, value: str) -> None:
    """A lone surrogate's bytes (or any not UTF-8) arrive as U+FFFD: a class no one
    knows (nothing asked), a max_age that is no number (refused to the client)."""
    code_for(web, Pkce.new())
    query = urlencode(authorize_params(Pkce.new()))
    unknown = web.get(f"/authorize?{query}&acr_values={value}")
    assert "code" in query_of(unknown.headers["location"])
    refused = web.get(f"/authorize?{query}&max_age={value}")
    assert query_of(refused.headers["location"])["error"] == "invalid_request"


def test_discovery_names_the_acr_values_and_claims(web: TestClient) -> None:
    config = web.get("/.well-known/openid-configuration").json()
    assert config["acr_values_supported"] == [PWD, MFA]
    assert {"amr", "acr", "auth_time"} <= set(config["claims_supported"])
