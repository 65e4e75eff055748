"""The hosted sign-in's second step: a user with a TOTP factor types a code after the
password, checked as the mfa grant checks it (issue 19 item 4)."""

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import LoginSession, User
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.factors import Enrolled, enrol_totp
from tests.support.sign_in import (
    REDIRECT_URI,
    Pkce,
    authorize_params,
    form_fields,
    query_of,
    register_client,
    target_of,
)

IssueToken = Callable[..., str]


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name="Acme Corp")
    created: User = UserFactory(
        tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    register_client(db)
    db.commit()
    return created


@pytest.fixture
def enrolled(client: TestClient, user: User, issue_token: IssueToken) -> Enrolled:
    return enrol_totp(client, issue_token(user, ["me"]))


def password_step(web: TestClient) -> tuple[dict[str, str], httpx.Response]:
    params = authorize_params(Pkce.new(), tenant="acme")
    page = web.get("/authorize", params=params)
    fields = form_fields(page) | {"email": "ada@acme.test", "password": DEFAULT_PASSWORD}
    return params, web.post("/authorize", data=fields)


def test_the_password_alone_signs_in_no_one_with_a_factor(
    web: TestClient, enrolled: Enrolled, db: Session
) -> None:
    params, answer = password_step(web)
    assert answer.status_code == 200, answer.text
    assert "Confirm it is you at Acme Corp" in answer.text
    # This form's answer redirects to the client too, which form-action must allow.
    assert "form-action 'self' http://127.0.0.1:5173;" in answer.headers["content-security-policy"]
    assert "tessera_session" not in answer.headers.get("set-cookie", "")
    assert db.scalars(select(LoginSession)).all() == []
    fields = form_fields(answer) | {"otp": enrolled.next_code()}
    done = web.post("/authorize/second-factor", data=fields)
    assert done.status_code == 303, done.text
    assert target_of(done.headers["location"]) == REDIRECT_URI
    assert query_of(done.headers["location"])["state"] == params["state"]
    assert "tessera_session=" in done.headers["set-cookie"]


def test_a_wrong_code_is_refused_on_the_page_and_counted(
    web: TestClient, enrolled: Enrolled, user: User, db: Session
) -> None:
    _, answer = password_step(web)
    wrong = web.post(
        "/authorize/second-factor", data=form_fields(answer) | {"otp": enrolled.wrong_code()}
    )
    assert wrong.status_code == 400
    assert 'role="alert"' in wrong.text
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 1
    # The same challenge, with the right code now.
    done = web.post(
        "/authorize/second-factor", data=form_fields(wrong) | {"otp": enrolled.next_code()}
    )
    assert done.status_code == 303, done.text


def test_the_step_needs_its_csrf_token_and_a_live_challenge(
    web: TestClient, enrolled: Enrolled
) -> None:
    _, answer = password_step(web)
    fields = form_fields(answer) | {"otp": enrolled.next_code()}
    forged = web.post("/authorize/second-factor", data={**fields, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    stale = form_fields(forged) | {"otp": fields["otp"], "mfa_token": "mf_" + "0" * 32 + "_x"}
    refused = web.post("/authorize/second-factor", data=stale)
    assert refused.status_code == 400
    assert "Sign in" in refused.text


def test_the_id_token_says_whether_the_email_is_verified(
    web: TestClient, user: User, db: Session
) -> None:
    db.get_one(User, (user.tenant_id, user.id)).email_verified_at = datetime.now(UTC)
    db.commit()
    pkce = Pkce.new()
    params = authorize_params(pkce, tenant="acme")
    page = web.get("/authorize", params=params)
    fields = form_fields(page) | {"email": "ada@acme.test", "password": DEFAULT_PASSWORD}
    answer = web.post("/authorize", data=fields)
    assert answer.status_code == 303, answer.text
    tokens = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(answer.headers["location"])["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": "spa",
            "code_verifier": pkce.verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert claims["email_verified"] is True
