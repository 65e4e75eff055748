"""Passkeys on the hosted sign-in (issue 19 item 2): "Use a passkey" as the second factor
after the password, and "Sign in with a passkey" alone where the tenant allows it.

The pages carry the assertion options in a data attribute for api/static/passkeys.js;
here a Python authenticator (tests/support/passkeys.py) answers them and the test posts
the form as the script would. tests/browser/test_passkeys.py clicks the real buttons.
"""

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Tenant, User, UserStatus
from backend.settings import Settings
from tests.conftest import bearer
from tests.support.concurrency import all_at_once
from tests.support.passkeys import SoftAuthenticator
from tests.support.sign_in import (
    REDIRECT_URI,
    Pkce,
    authorize_params,
    exchange,
    form_fields,
    query_of,
    sign_in,
    target_of,
)

IssueToken = Callable[..., str]


@pytest.fixture
def passkey(
    client: TestClient, user: User, issue_token: IssueToken, settings: Settings
) -> SoftAuthenticator:
    """Ada's passkey, registered over the API."""
    rp_id, origins = settings.webauthn_relying_party()
    authenticator = SoftAuthenticator(rp_id=rp_id, origin=origins[0])
    token = issue_token(user, ["me"])
    options = client.post("/me/factors/webauthn", headers=bearer(token), json={}).json()
    confirmed = client.post(
        "/me/factors/webauthn/confirm", headers=bearer(token), json=authenticator.create(options)
    )
    assert confirmed.status_code == 200, confirmed.text
    return authenticator


def options_on(page: httpx.Response) -> dict[str, Any]:
    found = re.search(r'data-webauthn-options="([^"]*)"', page.text)
    assert found is not None, page.text
    options: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return options


def amr_of(web: TestClient, location: str, pkce: Pkce) -> list[str]:
    tokens = exchange(web, query_of(location)["code"], pkce)
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    amr: list[str] = claims["amr"]
    return amr


def allow_passkey_login(db: Session, user: User, **policy: object) -> None:
    db.execute(
        update(Tenant)
        .where(Tenant.id == user.tenant_id)
        .values(policy={"passkey_login": True, **policy})
    )
    db.commit()


def refusals(db: Session) -> list[dict[str, Any]]:
    db.expire_all()
    return [
        e.data
        for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    ]


def test_a_passkey_is_the_second_factor_after_the_password(
    web: TestClient, passkey: SoftAuthenticator
) -> None:
    pkce = Pkce.new()
    page = sign_in(web, authorize_params(pkce, tenant="acme"))
    assert page.status_code == 200, page.text
    assert "Use a passkey" in page.text
    # The page runs Tessera's own script file, nothing inline, nothing from elsewhere.
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert 'src="../hosted/passkeys.js"' in page.text or 'src="hosted/passkeys.js"' in page.text
    assert "<script>" not in page.text
    options = options_on(page)
    assert options["userVerification"] == "preferred"
    fields = form_fields(page) | {"webauthn_assertion": json.dumps(passkey.get(options))}
    done = web.post("/authorize/second-factor", data=fields)
    assert done.status_code == 303, done.text
    assert target_of(done.headers["location"]) == REDIRECT_URI
    assert amr_of(web, done.headers["location"], pkce) == ["pwd", "hwk", "mfa"]
    # The same form again: its challenge is used, back to the password.
    again = web.post("/authorize/second-factor", data=fields)
    assert again.status_code == 400, again.text
    assert 'name="password"' in again.text


def test_a_wrong_assertion_shows_the_page_again_with_a_new_challenge(
    web: TestClient, passkey: SoftAuthenticator, user: User, db: Session
) -> None:
    page = sign_in(web, authorize_params(Pkce.new(), tenant="acme"))
    options = options_on(page)
    forged = passkey.get(options, origin="https://evil.example")
    wrong = web.post(
        "/authorize/second-factor",
        data=form_fields(page) | {"webauthn_assertion": json.dumps(forged)},
    )
    assert wrong.status_code == 400, wrong.text
    assert 'role="alert"' in wrong.text
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 1
    fresh = options_on(wrong)
    assert fresh["challenge"] != options["challenge"]
    done = web.post(
        "/authorize/second-factor",
        data=form_fields(wrong) | {"webauthn_assertion": json.dumps(passkey.get(fresh))},
    )
    assert done.status_code == 303, done.text


def test_a_passkey_alone_signs_in_where_the_tenant_allows_it(
    web: TestClient, passkey: SoftAuthenticator, user: User, db: Session
) -> None:
    allow_passkey_login(db, user)
    pkce = Pkce.new()
    page = web.get("/authorize", params=authorize_params(pkce, tenant="acme"))
    assert "Sign in with a passkey" in page.text
    options = options_on(page)
    # Discoverable credentials, the user verified by the authenticator.
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    fields = form_fields(page) | {"webauthn_assertion": json.dumps(passkey.get(options))}
    done = web.post("/authorize/passkey", data=fields)
    assert done.status_code == 303, done.text
    assert "tessera_session=" in done.headers["set-cookie"]
    assert amr_of(web, done.headers["location"], pkce) == ["hwk", "mfa"]
    db.expire_all()
    succeeded = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_succeeded")
    ).one()
    assert succeeded.data["amr"] == ["hwk", "mfa"]
    # One assertion, one sign-in.
    replayed = web.post("/authorize/passkey", data=fields)
    assert replayed.status_code == 400, replayed.text


def test_no_passkey_sign_in_where_the_tenant_does_not_allow_it(
    web: TestClient, passkey: SoftAuthenticator, user: User, db: Session
) -> None:
    page = web.get("/authorize", params=authorize_params(Pkce.new(), tenant="acme"))
    assert "Sign in with a passkey" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    # An assertion for a challenge issued while it was allowed, posted after.
    allow_passkey_login(db, user)
    allowed = web.get("/authorize", params=authorize_params(Pkce.new(), tenant="acme"))
    assertion = passkey.get(options_on(allowed))
    db.execute(update(Tenant).where(Tenant.id == user.tenant_id).values(policy={}))
    db.commit()
    refused = web.post(
        "/authorize/passkey",
        data=form_fields(allowed) | {"webauthn_assertion": json.dumps(assertion)},
    )
    assert refused.status_code == 400, refused.text
    assert [r["reason"] for r in refusals(db)] == ["passkey_login_off"]


def test_second_factors_off_turn_passkey_sign_in_off(
    web: TestClient, passkey: SoftAuthenticator, user: User, db: Session
) -> None:
    allow_passkey_login(db, user, mfa="off")
    page = web.get("/authorize", params=authorize_params(Pkce.new(), tenant="acme"))
    assert "Sign in with a passkey" not in page.text


@pytest.mark.parametrize("state", ["disabled", "locked", "unverified", "garbage", "other"])
def test_a_passkey_sign_in_keeps_the_logins_rules(
    web: TestClient,
    passkey: SoftAuthenticator,
    user: User,
    db: Session,
    settings: Settings,
    state: str,
) -> None:
    allow_passkey_login(db, user)
    page = web.get("/authorize", params=authorize_params(Pkce.new(), tenant="acme"))
    options = options_on(page)
    assertion: object = passkey.get(options)
    if state == "disabled":
        db.execute(update(User).where(User.id == user.id).values(status=UserStatus.DISABLED))
    elif state == "locked":
        locked_until = datetime.now(UTC) + timedelta(hours=1)
        db.execute(update(User).where(User.id == user.id).values(locked_until=locked_until))
    elif state == "unverified":
        passkey.user_verified = False
        assertion = passkey.get(options)
    elif state == "garbage":
        assertion = "{]"
    else:
        rp_id, origins = settings.webauthn_relying_party()
        stranger = SoftAuthenticator(rp_id=rp_id, origin=origins[0], user_handle=user.id.bytes)
        assertion = stranger.get(options)
    db.commit()
    presented = assertion if isinstance(assertion, str) else json.dumps(assertion)
    refused = web.post(
        "/authorize/passkey", data=form_fields(page) | {"webauthn_assertion": presented}
    )
    assert refused.status_code == 400, refused.text
    assert "tessera_session" not in refused.headers.get("set-cookie", "")
    assert 'role="alert"' in refused.text
    expected = {
        "disabled": "disabled",
        "locked": "locked",
        "unverified": "wrong_password",
        "garbage": "bad_passkey",
        "other": "unknown_passkey",
    }[state]
    assert [r["reason"] for r in refusals(db)] == [expected]


def test_the_script_is_served_by_tessera(web: TestClient) -> None:
    script = web.get("/hosted/passkeys.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "navigator.credentials.get" in script.text


def test_one_passkey_sign_in_posted_twice_at_once_signs_in_once(
    web: TestClient, passkey: SoftAuthenticator, user: User, db: Session
) -> None:
    allow_passkey_login(db, user)
    page = web.get("/authorize", params=authorize_params(Pkce.new(), tenant="acme"))
    fields = form_fields(page) | {"webauthn_assertion": json.dumps(passkey.get(options_on(page)))}
    results = all_at_once(2, lambda: web.post("/authorize/passkey", data=fields).status_code)
    assert sorted(results) == [303, 400]
