"""Ten identical creations at once: the database's unique constraint picks one winner,
and every other request gets the documented answer (409, or 200 for the idempotent
PUT of a grant), never a 500. Exactly one audit event is written."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.orm import Session

from backend.domain.scopes import Scope
from tests.concurrency.conftest import Admin, race, statuses
from tests.factories import DEFAULT_PASSWORD, RoleFactory, UserFactory

pytestmark = pytest.mark.concurrency

N = 10


def test_identical_grants_make_one_grant_and_the_rest_are_200(acme: Admin, db: Session) -> None:
    member = UserFactory(tenant=acme.tenant)
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.USERS_READ])
    db.commit()

    def grant(client: httpx.Client, _: int) -> httpx.Response:
        return client.put(f"/users/{member.id}/roles/{role.id}", headers=acme.headers)

    answers = race(acme.url, N, grant)
    assert statuses(answers) == {201: 1, 200: N - 1}, answers
    assert all(answer.body["role_id"] == str(role.id) for answer in answers)  # type: ignore[index]
    assert len(acme.events("grant.given", f"user:{member.id}")) == 1


def test_identical_expiry_changes_are_audited_once(acme: Admin, db: Session) -> None:
    member = UserFactory(tenant=acme.tenant)
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.USERS_READ])
    db.commit()
    path = f"/users/{member.id}/roles/{role.id}"
    assert httpx.put(acme.url + path, headers=acme.headers).status_code == 201
    # Within the expiry horizon, which every request of the race sends alike.
    expires_at = (datetime.now(UTC) + timedelta(days=365)).isoformat()

    def extend(client: httpx.Client, _: int) -> httpx.Response:
        return client.put(path, headers=acme.headers, json={"expires_at": expires_at})

    answers = race(acme.url, N, extend)
    assert statuses(answers) == {200: N}, answers
    # The creation, then the one change of expiry; the other nine found it made.
    assert len(acme.events("grant.given", f"user:{member.id}")) == 2


def test_service_accounts_with_one_name_make_one(acme: Admin) -> None:
    def create(client: httpx.Client, _: int) -> httpx.Response:
        return client.post("/service-accounts", headers=acme.headers, json={"name": "robot"})

    answers = race(acme.url, N, create)
    assert statuses(answers) == {201: 1, 409: N - 1}, answers
    conflict = next(answer.body for answer in answers if answer.status == 409)
    assert conflict == {
        "error": "conflict",
        "error_description": "a service account named 'robot' already exists",
    }
    assert len(acme.events("service_account.created")) == 1


def test_roles_with_one_name_make_one(acme: Admin) -> None:
    def create(client: httpx.Client, _: int) -> httpx.Response:
        return client.post(
            "/roles", headers=acme.headers, json={"name": "helpdesk", "scopes": ["users:read"]}
        )

    answers = race(acme.url, N, create)
    assert statuses(answers) == {201: 1, 409: N - 1}, answers
    assert len(acme.events("role.created")) == 1


def test_users_with_one_email_in_any_case_make_one(acme: Admin) -> None:
    def create(client: httpx.Client, index: int) -> httpx.Response:
        # The same address in ten spellings: unique regardless of case.
        email = "kai@acme.test" if index % 2 else "KAI@Acme.Test"
        return client.post(
            "/users", headers=acme.headers, json={"email": email, "password": DEFAULT_PASSWORD}
        )

    answers = race(acme.url, N, create)
    assert statuses(answers) == {201: 1, 409: N - 1}, answers
    assert len(acme.events("user.created")) == 1


def test_tenants_with_one_slug_make_one(operator: Admin) -> None:
    def create(client: httpx.Client, index: int) -> httpx.Response:
        owner = {"email": f"owner{index}@globex.test", "invite": True}
        return client.post(
            "/tenants",
            headers=operator.headers,
            json={"slug": "globex", "name": "Globex", "owner": owner},
        )

    answers = race(operator.url, N, create)
    assert statuses(answers) == {201: 1, 409: N - 1}, answers
    # The platform's log also holds the platform tenant's own creation.
    events = operator.events("tenant.created")
    assert [e["data"].get("tenant") for e in events].count("globex") == 1  # type: ignore[attr-defined]
