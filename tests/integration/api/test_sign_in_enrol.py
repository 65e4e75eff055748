"""The hosted sign-in under the tenant's `mfa: required` (issue 19 item 5): a user
without a factor enrols one on the page before the session starts; within the grace the
page offers it with a "later"; `off` and `optional` ask nothing of such a user."""

import html
import re

import httpx
import jwt
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Factor, LoginSession, RecoveryCode, Tenant, User
from tests.support.concurrency import all_at_once
from tests.support.factors import secret_of
from tests.support.sign_in import (
    Pkce,
    authorize_params,
    code_for,
    exchange,
    form_fields,
    query_of,
    sign_in,
)


def set_policy(db: Session, user: User, **policy: object) -> None:
    tenant = db.get_one(Tenant, user.tenant_id)
    tenant.policy = {**tenant.policy, **policy}
    db.commit()


def uri_on(page: httpx.Response) -> str:
    found = re.search(r'<code id="otpauth-uri">([^<]+)</code>', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def code_on(page: httpx.Response) -> str:
    return pyotp.TOTP(secret_of(uri_on(page))).now()


def amr_of(web: TestClient, answer: httpx.Response, pkce: Pkce) -> list[str]:
    assert answer.status_code == 303, answer.text
    tokens = exchange(web, query_of(answer.headers["location"])["code"], pkce)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["amr"] == id_claims["amr"]
    amr: list[str] = claims["amr"]
    return amr


def test_past_the_grace_the_user_enrols_before_the_session_starts(
    web: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    pkce = Pkce.new()
    page = sign_in(web, authorize_params(pkce, tenant="acme"))
    assert page.status_code == 200, page.text
    assert "requires a second factor" in page.text
    assert "<svg" in page.text
    assert uri_on(page).startswith("otpauth://totp/")
    assert 'name="later"' not in page.text
    assert "tessera_session" not in page.headers.get("set-cookie", "")
    assert page.headers["cache-control"] == "no-store"
    assert db.scalars(select(LoginSession)).all() == []
    done = web.post("/authorize/enrol", data=form_fields(page) | {"code": code_on(page)})
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10
    assert "tessera_session=" in done.headers["set-cookie"]
    # Continue: the page's form goes back to /authorize, which the new session answers.
    go_on = form_fields(done)
    assert "prompt" not in go_on
    answer = web.get("/authorize", params=go_on)
    assert amr_of(web, answer, pkce) == ["pwd", "otp", "mfa"]
    # A later sign-in asks for the factor it enrolled.
    web.cookies.clear()
    again = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    assert "Confirm it is you" in again.text


def test_within_the_grace_the_page_offers_enrolment_and_later_signs_in(
    web: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=14)
    pkce = Pkce.new()
    page = sign_in(web, authorize_params(pkce, tenant="acme"))
    assert page.status_code == 200, page.text
    assert "14 days left" in page.text
    assert 'name="later"' in page.text
    later = web.post("/authorize/enrol", data=form_fields(page) | {"later": "1"})
    assert amr_of(web, later, pkce) == ["pwd"]
    assert db.scalars(select(Factor).where(Factor.confirmed_at.is_not(None))).all() == []


def test_later_is_refused_past_the_grace_and_the_same_factor_shown_again(
    web: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    page = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    forged = web.post("/authorize/enrol", data=form_fields(page) | {"later": "1"})
    assert forged.status_code == 400
    assert uri_on(forged) == uri_on(page)
    wrong = web.post("/authorize/enrol", data=form_fields(forged) | {"code": "000000"})
    assert wrong.status_code == 400
    assert 'role="alert"' in wrong.text
    assert uri_on(wrong) == uri_on(page)
    done = web.post("/authorize/enrol", data=form_fields(wrong) | {"code": code_on(wrong)})
    assert done.status_code == 200, done.text


def test_acr_values_for_mfa_takes_later_away(web: TestClient, user: User, db: Session) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=14)
    params = authorize_params(Pkce.new(), tenant="acme", acr_values="urn:tessera:acr:mfa")
    page = sign_in(web, params)
    assert "requires a second factor" in page.text
    assert 'name="later"' not in page.text


@pytest.mark.parametrize("policy", ["off", "optional"])
def test_off_and_optional_ask_nothing_of_a_user_without_a_factor(
    web: TestClient, user: User, db: Session, policy: str
) -> None:
    set_policy(db, user, mfa=policy, mfa_grace_days=0)
    pkce = Pkce.new()
    assert amr_of(web, sign_in(web, authorize_params(pkce, tenant="acme")), pkce) == ["pwd"]


def test_a_session_from_within_the_grace_enrols_once_it_is_over(
    web: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=14)
    page = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    web.post("/authorize/enrol", data=form_fields(page) | {"later": "1"})
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    pkce = Pkce.new()
    asked = web.get("/authorize", params=authorize_params(pkce))
    assert asked.status_code == 200
    assert 'name="password"' not in asked.text
    done = web.post("/authorize/enrol", data=form_fields(asked) | {"code": code_on(asked)})
    assert done.status_code == 200, done.text
    # The session is raised, not replaced.
    assert "tessera_session" not in done.headers.get("set-cookie", "")
    answer = web.get("/authorize", params=form_fields(done))
    assert amr_of(web, answer, pkce) == ["pwd", "otp", "mfa"]
    browsers = db.scalars(
        select(LoginSession).where(LoginSession.browser_secret_hash.is_not(None))
    ).all()
    assert [b.amr for b in browsers] == ["pwd otp mfa"]


def test_two_confirmations_of_one_enrolment_enrol_once(
    web: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    page = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    fields = form_fields(page) | {"code": code_on(page)}
    answers = all_at_once(2, lambda: web.post("/authorize/enrol", data=fields).status_code)
    assert sorted(answers) == [200, 400]
    assert len(db.scalars(select(Factor).where(Factor.confirmed_at.is_not(None))).all()) == 1
    assert len(db.scalars(select(RecoveryCode)).all()) == 10
    assert len(db.scalars(select(LoginSession)).all()) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "12\x0034"),
        ("code", "1" * 7),
        ("mfa_token", "mf_\x00"),
        ("mfa_token", "x" * 201),
        ("later", "y" * 11),
        ("acr_values", "a\x00"),
    ],
)
def test_bad_input_in_the_enrolment_form_is_4xx(
    web: TestClient, user: User, db: Session, field: str, value: str
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    page = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    answer = web.post("/authorize/enrol", data=form_fields(page) | {field: value})
    assert 400 <= answer.status_code < 500, answer.text


def test_the_enrolment_needs_its_csrf_token_and_a_live_challenge(
    web: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    page = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    fields = form_fields(page) | {"code": code_on(page)}
    forged = web.post("/authorize/enrol", data={**fields, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    stale = form_fields(forged) | {"code": fields["code"], "mfa_token": "mf_" + "0" * 32 + "_x"}
    refused = web.post("/authorize/enrol", data=stale)
    assert refused.status_code == 400
    assert 'name="password"' in refused.text
    assert db.scalars(select(Factor).where(Factor.confirmed_at.is_not(None))).all() == []


def test_a_stale_session_with_max_age_still_signs_in_after_enrolment(
    web: TestClient, user: User, db: Session
) -> None:
    code_for(web, Pkce.new())
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    pkce = Pkce.new()
    page = sign_in(web, authorize_params(pkce, tenant="acme", prompt="login", max_age="0"))
    done = web.post("/authorize/enrol", data=form_fields(page) | {"code": code_on(page)})
    assert done.status_code == 200, done.text
    assert amr_of(web, web.get("/authorize", params=form_fields(done)), pkce) == [
        "pwd",
        "otp",
        "mfa",
    ]
