"""Step-up (RFC 9470): routes that change credentials, roles or keys want a token whose
login used the second factor, from a user who has one (issue 19 item 5)."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.factors import Enrolled, enrol_totp, log_in_with_factor

IssueToken = Callable[..., str]


@pytest.fixture
def owner(db: Session) -> User:
    tenant = TenantFactory(slug="acme")
    user = UserFactory(
        tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return user


@pytest.fixture
def enrolled(client: TestClient, owner: User, issue_token: IssueToken) -> Enrolled:
    return enrol_totp(client, issue_token(owner, ["me"]))


def mfa_login(client: TestClient, enrolled: Enrolled) -> str:
    return log_in_with_factor(client, "acme/ada@acme.test", enrolled)


def change_password(client: TestClient, token: str) -> int:
    return client.patch(
        "/me/password",
        headers=bearer(token),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "saffron kites over dunes"},
    ).status_code


def test_a_password_only_token_is_asked_to_step_up(
    client: TestClient, owner: User, enrolled: Enrolled, issue_token: IssueToken
) -> None:
    response = client.patch(
        "/me/password",
        headers=bearer(issue_token(owner, sorted(TENANT_SCOPES))),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "saffron kites over dunes"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "insufficient_user_authentication"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"')
    assert 'acr_values="urn:tessera:acr:mfa"' in challenge


def test_a_token_of_a_second_factor_login_passes(client: TestClient, enrolled: Enrolled) -> None:
    assert change_password(client, mfa_login(client, enrolled)) == 204


def test_a_user_without_a_factor_needs_no_step_up(
    client: TestClient, owner: User, issue_token: IssueToken
) -> None:
    assert change_password(client, issue_token(owner, ["me"])) == 204


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api-keys", {"name": "ci", "scopes": ["me"]}),
        ("POST", "/me/factors/recovery-codes", None),
    ],
)
def test_other_stepped_up_routes(
    client: TestClient,
    owner: User,
    enrolled: Enrolled,
    issue_token: IssueToken,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    plain = client.request(
        method, path, headers=bearer(issue_token(owner, sorted(TENANT_SCOPES))), json=body
    )
    assert plain.status_code == 401
    stepped = client.request(method, path, headers=bearer(mfa_login(client, enrolled)), json=body)
    assert stepped.status_code in (200, 201), stepped.text


def test_an_api_key_proves_no_second_factor(client: TestClient, enrolled: Enrolled) -> None:
    token = mfa_login(client, enrolled)
    created = client.post(
        "/api-keys", headers=bearer(token), json={"name": "ci", "scopes": ["api_keys:manage"]}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    again = client.post("/api-keys", headers={"X-API-Key": key}, json={"name": "x", "scopes": []})
    assert again.status_code == 401
    assert again.json()["error"] == "insufficient_user_authentication"
