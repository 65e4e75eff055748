"""The password grant's second step: `mfa_required`, then the mfa grant (issue 19 item 4)."""

from collections.abc import Callable

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, LoginSession, Tenant, User
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.concurrency import all_at_once
from tests.support.factors import Enrolled, enrol_totp

IssueToken = Callable[..., str]
MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name="Acme")
    member = UserFactory(
        tenant=tenant, email="kai@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return member


@pytest.fixture
def enrolled(client: TestClient, user: User, issue_token: IssueToken) -> Enrolled:
    return enrol_totp(client, issue_token(user, ["me"]))


def password_login(client: TestClient, **extra: str) -> httpx.Response:
    form = {"grant_type": "password", "username": "acme/kai@acme.test"}
    return client.post("/token", data={**form, "password": DEFAULT_PASSWORD, **extra})


def mfa_token(client: TestClient, **extra: str) -> str:
    response = password_login(client, **extra)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "mfa_required"
    token: str = body["mfa_token"]
    return token


def complete(client: TestClient, token: str, **factor: str) -> httpx.Response:
    return client.post("/token", data={"grant_type": MFA_GRANT, "mfa_token": token, **factor})


def claims_of(settings: Settings, access_token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(
        access_token, settings.signing_secret(), algorithms=["HS256"], audience="tessera-api"
    )
    return decoded


def test_a_user_without_a_factor_logs_in_with_the_password_alone(
    client: TestClient, user: User, settings: Settings
) -> None:
    response = password_login(client)
    assert response.status_code == 200, response.text
    claims = claims_of(settings, response.json()["access_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:tessera:acr:pwd"


def test_the_password_alone_gets_an_mfa_token_and_no_tokens(
    client: TestClient, enrolled: Enrolled, db: Session
) -> None:
    response = password_login(client)
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == "mfa_required"
    assert body["mfa_token"].startswith("mf_")
    assert "access_token" not in body
    assert db.scalars(select(LoginSession)).all() == []


def test_the_second_factor_completes_the_login_and_refresh_keeps_amr(
    client: TestClient, enrolled: Enrolled, settings: Settings, db: Session
) -> None:
    token = mfa_token(client, scope="me users:read")
    response = complete(client, token, otp=enrolled.next_code())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "me users:read"
    claims = claims_of(settings, body["access_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:tessera:acr:mfa"
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(settings, refreshed.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    me = client.get("/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.at)).all()
    assert "auth.mfa_challenged" in actions
    assert "auth.login_succeeded" in actions


def test_an_mfa_token_completes_one_login(client: TestClient, enrolled: Enrolled) -> None:
    token = mfa_token(client)
    assert complete(client, token, otp=enrolled.next_code()).status_code == 200
    replay = complete(client, token, otp=enrolled.next_code())
    assert replay.status_code == 400
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "mfa_token is invalid, expired or already used",
    }


def test_a_code_is_accepted_once(client: TestClient, enrolled: Enrolled, db: Session) -> None:
    code = enrolled.next_code()
    assert complete(client, mfa_token(client), otp=code).status_code == 200
    again = complete(client, mfa_token(client), otp=code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_wrong_code_counts_and_the_token_stays_for_another_try(
    client: TestClient, enrolled: Enrolled, user: User, db: Session
) -> None:
    token = mfa_token(client)
    wrong = enrolled.wrong_code()
    refused = complete(client, token, otp=wrong)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 1
    assert complete(client, token, otp=enrolled.next_code()).status_code == 200
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 0


def test_a_locked_account_takes_no_second_factor(
    client: TestClient, enrolled: Enrolled, user: User, db: Session
) -> None:
    token = mfa_token(client)
    wrong = enrolled.wrong_code()
    # The default policy pauses checks from the fifth failure in a row.
    for _ in range(5):
        assert complete(client, token, otp=wrong).status_code == 400
    refused = complete(client, token, otp=enrolled.next_code())
    assert refused.status_code == 400
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).locked_until is not None


def test_a_recovery_code_works_once(
    client: TestClient, enrolled: Enrolled, settings: Settings, db: Session
) -> None:
    code = enrolled.recovery_codes[3]
    response = complete(client, mfa_token(client), recovery_code=code.upper())
    assert response.status_code == 200, response.text
    assert claims_of(settings, response.json()["access_token"])["amr"] == ["pwd", "mfa"]
    again = complete(client, mfa_token(client), recovery_code=code)
    assert again.status_code == 400
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "factor.recovery_code_used")
    ).all()
    assert [e.data for e in events] == [{"remaining": 9}]


def test_two_requests_racing_with_one_token_log_in_once(
    client: TestClient, enrolled: Enrolled, db: Session
) -> None:
    token = mfa_token(client)
    code = enrolled.next_code()
    answers = all_at_once(2, lambda: complete(client, token, otp=code).status_code)
    assert sorted(answers) == [200, 400]
    assert len(db.scalars(select(LoginSession)).all()) == 1


@pytest.mark.parametrize(
    "token",
    ["", "mf_x", "rt_" + "0" * 32 + "_" + "A" * 43, "mf_" + "0" * 32 + "_" + "A" * 43],
)
def test_a_forged_mfa_token_is_refused(client: TestClient, enrolled: Enrolled, token: str) -> None:
    response = complete(client, token, otp=enrolled.next_code())
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_the_grant_needs_a_factor(client: TestClient, enrolled: Enrolled) -> None:
    response = client.post("/token", data={"grant_type": MFA_GRANT, "mfa_token": mfa_token(client)})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_the_scopes_asked_are_bound_to_the_token(client: TestClient, enrolled: Enrolled) -> None:
    response = complete(client, mfa_token(client, scope="me"), otp=enrolled.next_code())
    assert response.json()["scope"] == "me"
    # The mfa grant takes no scope of its own: a scope field there changes nothing.
    widened = client.post(
        "/token",
        data={
            "grant_type": MFA_GRANT,
            "mfa_token": mfa_token(client, scope="me"),
            "otp": enrolled.next_code(),
            "scope": "users:write",
        },
    )
    assert widened.json()["scope"] == "me"


def test_a_user_disabled_meanwhile_gets_no_tokens(
    client: TestClient, enrolled: Enrolled, user: User, db: Session
) -> None:
    token = mfa_token(client)
    db.execute(User.__table__.update().where(User.id == user.id).values(status="disabled"))
    db.commit()
    assert complete(client, token, otp=enrolled.next_code()).status_code == 400


def set_policy(db: Session, user: User, **policy: object) -> None:
    tenant = db.get_one(Tenant, user.tenant_id)
    tenant.policy = {**tenant.policy, **policy}
    db.commit()


def test_policy_off_asks_no_factor_and_takes_no_enrolment(
    client: TestClient, enrolled: Enrolled, user: User, db: Session, issue_token: IssueToken
) -> None:
    set_policy(db, user, mfa="off")
    assert password_login(client).status_code == 200
    refused = client.post("/me/factors/totp", headers=bearer(issue_token(user, ["me"])), json={})
    assert refused.status_code == 409


def test_policy_required_past_the_grace_gives_only_me_until_enrolled(
    client: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=0)
    answer = password_login(client)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "me"
    asked = password_login(client, scope="users:read")
    assert asked.status_code == 400
    assert asked.json()["error"] == "invalid_scope"
    enrol_totp(client, answer.json()["access_token"])
    assert password_login(client).json()["error"] == "mfa_required"


def test_policy_required_within_the_grace_changes_nothing_yet(
    client: TestClient, user: User, db: Session
) -> None:
    set_policy(db, user, mfa="required", mfa_grace_days=30)
    answer = password_login(client)
    assert answer.status_code == 200
    assert answer.json()["scope"] != "me"
