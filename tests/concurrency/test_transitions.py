"""The same state change sent many times at once: exactly one request makes it and
writes its audit event; the others get the answer a repeat gets (204 or 200 for an
idempotent revoke, disable or delete; 404 for what is gone; 400 for a used
invitation), never a 500."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import (
    Grant,
    Invitation,
    Role,
    RoleInclude,
    ServiceAccount,
    ServiceAccountRole,
    Tenant,
    TenantStatus,
    User,
    UserStatus,
)
from backend.domain.scopes import Scope
from backend.security.opaque import new_secret
from tests.concurrency.conftest import Admin, IssueToken, race, statuses
from tests.factories import (
    DEFAULT_PASSWORD,
    ApiKeyFactory,
    LoginSessionFactory,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.concurrency

N = 10


def test_one_grant_revoked_ten_times_is_one_revocation(acme: Admin, db: Session) -> None:
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.USERS_READ])
    member = UserFactory(tenant=acme.tenant, roles=[role])
    db.commit()

    def revoke(client: httpx.Client, _: int) -> httpx.Response:
        return client.delete(f"/users/{member.id}/roles/{role.id}", headers=acme.headers)

    answers = race(acme.url, N, revoke)
    assert statuses(answers) == {204: 1, 404: N - 1}, answers
    assert len(acme.events("grant.revoked", f"user:{member.id}")) == 1


def test_one_api_key_revoked_five_times_is_audited_once(acme: Admin, db: Session) -> None:
    key = ApiKeyFactory(creator=acme.user)
    db.commit()

    def revoke(client: httpx.Client, _: int) -> httpx.Response:
        return client.delete(f"/api-keys/{key.id}", headers=acme.headers)

    answers = race(acme.url, 5, revoke)
    assert statuses(answers) == {204: 5}, answers
    assert len(acme.events("api_key.revoked", f"api_key:{key.id}")) == 1


def test_one_service_account_revoked_five_times_is_audited_once(acme: Admin, db: Session) -> None:
    account = ServiceAccountFactory(tenant=acme.tenant)
    db.commit()
    version = account.token_version

    def revoke(client: httpx.Client, _: int) -> httpx.Response:
        return client.delete(f"/service-accounts/{account.id}", headers=acme.headers)

    answers = race(acme.url, 5, revoke)
    assert statuses(answers) == {204: 5}, answers
    assert len(acme.events("service_account.revoked", f"service_account:{account.id}")) == 1
    db.expire_all()
    # Revoked once: its tokens were cut off by one bump, not five.
    assert db.get_one(ServiceAccount, (acme.tenant.id, account.id)).token_version == version + 1


def test_one_user_disabled_ten_times_is_disabled_once(acme: Admin, db: Session) -> None:
    member = UserFactory(tenant=acme.tenant)
    db.commit()
    version = member.token_version

    def disable(client: httpx.Client, _: int) -> httpx.Response:
        return client.post(f"/users/{member.id}/disable", headers=acme.headers, json={})

    answers = race(acme.url, N, disable)
    assert statuses(answers) == {200: N}, answers
    assert all(answer.body["status"] == "disabled" for answer in answers)  # type: ignore[index]
    assert len(acme.events("user.disabled", f"user:{member.id}")) == 1
    db.expire_all()
    assert db.get_one(User, (acme.tenant.id, member.id)).token_version == version + 1


def test_one_user_enabled_ten_times_is_enabled_once(acme: Admin, db: Session) -> None:
    member = UserFactory(tenant=acme.tenant, status=UserStatus.DISABLED)
    db.commit()

    def enable(client: httpx.Client, _: int) -> httpx.Response:
        return client.post(f"/users/{member.id}/enable", headers=acme.headers)

    answers = race(acme.url, N, enable)
    assert statuses(answers) == {200: N}, answers
    assert all(answer.body["status"] == "active" for answer in answers)  # type: ignore[index]
    assert len(acme.events("user.enabled", f"user:{member.id}")) == 1


def test_one_user_deleted_ten_times_is_deleted_once(acme: Admin, db: Session) -> None:
    member = UserFactory(tenant=acme.tenant)
    LoginSessionFactory(user=member)
    db.commit()

    def delete(client: httpx.Client, _: int) -> httpx.Response:
        return client.delete(f"/users/{member.id}", headers=acme.headers)

    answers = race(acme.url, N, delete)
    assert statuses(answers) == {204: N}, answers
    events = acme.events("user.deleted", f"user:{member.id}")
    assert len(events) == 1
    assert events[0]["data"]["sessions_revoked"] == 1  # type: ignore[index]


def test_one_tenant_suspended_five_times_is_suspended_once(operator: Admin, db: Session) -> None:
    globex = TenantFactory(slug="globex")
    db.commit()
    for verb, status, action in (
        ("suspend", "suspended", "tenant.suspended"),
        ("reactivate", "active", "tenant.reactivated"),
    ):

        def change(client: httpx.Client, _: int, verb: str = verb) -> httpx.Response:
            return client.post(f"/tenants/{globex.id}/{verb}", headers=operator.headers)

        answers = race(operator.url, 5, change)
        assert statuses(answers) == {200: 5}, answers
        assert all(answer.body["status"] == status for answer in answers)  # type: ignore[index]
        # The operator's own log keeps every tenant operation they made.
        assert len(operator.events(action, f"tenant:{globex.id}")) == 1
    db.expire_all()
    assert db.get_one(Tenant, globex.id).status is TenantStatus.ACTIVE


def test_one_invitation_accepted_five_times_is_accepted_once(acme: Admin, db: Session) -> None:
    invited = UserFactory(tenant=acme.tenant, password_hash=None)
    secret = new_secret("iv", acme.tenant.id)
    db.add(
        Invitation(
            tenant_id=acme.tenant.id,
            id=uuid.uuid4(),
            user_id=invited.id,
            token_hash=secret.digest,
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    )
    db.commit()

    def accept(client: httpx.Client, index: int) -> httpx.Response:
        body = {"token": secret.value, "password": f"{DEFAULT_PASSWORD} {index}"}
        return client.post("/invitations/accept", json=body)

    answers = race(acme.url, 5, accept)
    assert statuses(answers) == {204: 1, 400: 4}, answers
    assert len(acme.events("invitation.accepted", f"user:{invited.id}")) == 1


def test_one_session_ended_five_times_is_ended_once(
    acme: Admin, db: Session, issue_token: IssueToken
) -> None:
    family = LoginSessionFactory(user=acme.user)
    db.commit()

    def end(client: httpx.Client, _: int) -> httpx.Response:
        return client.delete(f"/me/sessions/{family.id}", headers=acme.headers)

    answers = race(acme.url, 5, end)
    assert statuses(answers) == {204: 1, 404: 4}, answers
    assert len(acme.events("session.ended", f"session:{family.id}")) == 1


def test_a_role_deleted_while_it_is_being_granted(acme: Admin, db: Session) -> None:
    """Each grant, new service account or new role including it lands either before the
    deletion (and its holder is cut off by it) or after it (404): none is lost to a 500
    on the foreign key, none keeps the scopes."""
    role = RoleFactory(tenant=acme.tenant, scopes=[Scope.USERS_READ])
    members = [UserFactory(tenant=acme.tenant) for _ in range(4)]
    db.commit()
    tenant_id, role_id = acme.tenant.id, role.id
    versions = {member.id: member.token_version for member in members}
    grants, accounts = range(1, 5), range(5, 8)

    def act(client: httpx.Client, index: int) -> httpx.Response:
        if index == 0:
            return client.delete(f"/roles/{role_id}", headers=acme.headers)
        if index in grants:
            member = members[index - grants.start]
            return client.put(f"/users/{member.id}/roles/{role_id}", headers=acme.headers)
        if index in accounts:
            body = {"name": f"robot-{index}", "role_ids": [str(role_id)]}
            return client.post("/service-accounts", headers=acme.headers, json=body)
        body = {"name": f"composite-{index}", "includes": [str(role_id)]}
        return client.post("/roles", headers=acme.headers, json=body)

    answers = race(acme.url, N, act)
    assert answers[0].status == 204, answers[0]
    assert {answer.status for answer in answers[1:]} <= {201, 404}, answers
    db.expire_all()
    assert db.get(Role, (tenant_id, role_id)) is None
    for table in (Grant.role_id, ServiceAccountRole.role_id, RoleInclude.included_role_id):
        assert not db.scalars(select(table).where(table == role_id)).all()
    # A grant made before the deletion lost its scope to it: its holder is cut off.
    for member, index in zip(members, grants, strict=True):
        bumps = 1 if answers[index].status == 201 else 0
        version = db.get_one(User, (tenant_id, member.id)).token_version
        assert version == versions[member.id] + bumps, (answers[index], version)
    for index in accounts:
        if answers[index].status == 201:
            account_id = uuid.UUID(answers[index].body["id"])  # type: ignore[index]
            # Created with token version 1, bumped once by the deletion.
            assert db.get_one(ServiceAccount, (tenant_id, account_id)).token_version == 2


def test_two_edits_that_together_close_a_cycle(acme: Admin, db: Session) -> None:
    first = RoleFactory(tenant=acme.tenant, name="a")
    second = RoleFactory(tenant=acme.tenant, name="b")
    db.commit()

    def include(client: httpx.Client, index: int) -> httpx.Response:
        role, other = (first, second) if index % 2 else (second, first)
        return client.patch(
            f"/roles/{role.id}", headers=acme.headers, json={"includes": [str(other.id)]}
        )

    answers = race(acme.url, 2, include)
    assert statuses(answers) == {200: 1, 409: 1}, answers
    # The graph stays acyclic, so it can still be read.
    assert httpx.get(f"{acme.url}/roles", headers=acme.headers, timeout=10).status_code == 200
