"""Every change of a subject's standing cuts off their live credentials at once.

One list of the paths that change a standing (services.cutoff), each driven the way an
admin, a user or the worker drives it: over HTTP, and for jobs and sweeps through the
functions the worker's tasks run, in the app's own process. Before each change every
credential has just been used, so the app remembers the subject's standing: a path that
forgot to cut off (or to forget what the app remembers) lets the credential through.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import Job, JobStatus, Role, Tenant, User
from backend.domain.scopes import TENANT_SCOPES, Scope
from backend.runtime import Runtime
from backend.security.opaque import new_secret
from backend.services import job_runner, sweeps
from backend.services.cutoff import Reason
from backend.services.effects import Effects
from backend.services.service_accounts import SECRET_KIND
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import (
    DEFAULT_PASSWORD,
    ApiKeyFactory,
    RoleFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.api.test_service_accounts import basic
from tests.support.platform import create_operator
from tests.support.sign_in import (
    Pkce,
    authorize_params,
    exchange,
    form_fields,
    query_of,
    register_client,
)
from tests.support.standings import changes_after

IssueToken = Callable[..., str]
OPERATOR_PASSWORD = "violet otters juggle lanterns"
NEW_PASSWORD = "saffron walrus hums at dawn"
INACTIVITY_DAYS = 30


@dataclass(frozen=True)
class Credential:
    """A way of calling the API, and a guarded request that proves it still works."""

    name: str
    headers: dict[str, str]
    path: str


@dataclass
class World:
    """acme's owner, its member ann, and ann's credentials: an access token (scopes
    me and users:read, from the custom role `reader`), an API key, and a service
    account she made that holds `reader`; plus a platform operator."""

    client: TestClient
    db: Session
    runtime: Runtime
    tenant: Tenant
    owner_token: str
    operator_token: str
    ann: User
    reader: Role
    token: Credential
    key: Credential
    key_id: uuid.UUID
    robot: Credential
    robot_id: uuid.UUID

    def call(self, credential: Credential) -> int:
        return self.client.get(credential.path, headers=credential.headers).status_code

    def as_owner(self, method: str, path: str, json: object = None) -> httpx.Response:
        return self.client.request(method, path, headers=bearer(self.owner_token), json=json)

    def run_jobs(self) -> None:
        """Run every queued job of acme as the worker's task does."""
        self.db.expire_all()
        queued = self.db.scalars(
            select(Job.id).where(Job.tenant_id == self.tenant.id, Job.status == JobStatus.QUEUED)
        ).all()
        assert queued, "the change queued no job"
        for job_id in queued:
            job_runner.run(
                self.runtime.database.sessions,
                self.runtime.effects,
                self.tenant.id,
                job_id,
                chunk=2,
            )
        self.db.expire_all()
        statuses = self.db.scalars(select(Job.status).where(Job.id.in_(queued))).all()
        assert set(statuses) == {JobStatus.SUCCEEDED}

    def sweep(self, name: str) -> None:
        """Run one scheduled sweep as the worker's task does."""
        assert sweeps.run(self.runtime.database.sessions, self.runtime.effects, name, chunk=2) > 0


@pytest.fixture
def world(
    client: TestClient, db: Session, effects: Effects, settings: Settings, issue_token: IssueToken
) -> World:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    create_operator(db, effects, settings, OPERATOR_PASSWORD)
    tenant = TenantFactory(
        slug="acme",
        policy={"inactivity_days": INACTIVITY_DAYS},
    )
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    reader = RoleFactory(tenant=tenant, name="reader", scopes=[Scope.USERS_READ])
    ann = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member"), reader]
    )
    key = new_secret("ak", tenant.id)
    key_row = ApiKeyFactory(creator=ann, key_hash=key.digest, prefix=key.prefix, scope="me")
    robot_secret = new_secret(SECRET_KIND, tenant.id)
    robot = ServiceAccountFactory(
        tenant=tenant, secret_hash=robot_secret.digest, created_by=ann.id, roles=[reader]
    )
    db.commit()
    robot_login = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(f"sa_{tenant.id.hex}_{robot.id.hex}", robot_secret.value),
    )
    assert robot_login.status_code == 200, robot_login.text
    world = World(
        client=client,
        db=db,
        runtime=runtime,
        tenant=tenant,
        owner_token=issue_token(owner, sorted(TENANT_SCOPES)),
        operator_token=login(
            client, f"{settings.platform_tenant_slug}/ops@platform.test", OPERATOR_PASSWORD
        ),
        ann=ann,
        reader=reader,
        token=Credential(
            "ann's access token", bearer(issue_token(ann, ["me", "users:read"])), "/users"
        ),
        key=Credential("ann's API key", {"X-API-Key": key.value}, "/me"),
        key_id=key_row.id,
        robot=Credential(
            "ann's service account's token", bearer(robot_login.json()["access_token"]), "/users"
        ),
        robot_id=robot.id,
    )
    wait_until_live(runtime)
    return world


def wait_until_live(runtime: Runtime) -> None:
    """The app's principal cache serves (and so can go stale) only once subscribed."""
    deadline = time.monotonic() + 10
    while not runtime.principal_cache.live:
        assert time.monotonic() < deadline, "the app's principal cache never subscribed"
        time.sleep(0.01)


def login(client: TestClient, username: str, password: str) -> str:
    response = client.post(
        "/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def ann_login(world: World, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return world.client.post(
        "/token",
        data={"grant_type": "password", "username": "acme/ann@acme.test", "password": password},
    )


# What a change leaves: the credentials refused (401) and those that work (200).
Outcome = tuple[list[Credential], list[Credential]]


def disable(world: World) -> Outcome:
    response = world.as_owner("POST", f"/users/{world.ann.id}/disable")
    assert response.status_code == 200, response.text
    return [world.token, world.key], [world.robot]


def enable(world: World) -> Outcome:
    disable(world)
    # A token at the version the disable left: what the enable must end.
    world.db.refresh(world.ann)
    at_disable = Credential(
        "a token of ann's disabled version",
        bearer(issue_token_at(world, world.ann)),
        "/me",
    )
    assert world.call(at_disable) == 401
    response = world.as_owner("POST", f"/users/{world.ann.id}/enable")
    assert response.status_code == 200, response.text
    fresh = Credential("ann's token after the enable", bearer(ann_token(world)), "/me")
    return [world.token, at_disable], [fresh, world.key]


def delete(world: World) -> Outcome:
    response = world.as_owner("DELETE", f"/users/{world.ann.id}")
    assert response.status_code == 204, response.text
    return [world.token, world.key], []


def offboard(world: World) -> Outcome:
    response = world.as_owner("POST", f"/users/{world.ann.id}/offboard")
    assert response.status_code == 202, response.text
    world.run_jobs()
    return [world.token, world.key, world.robot], []


def bulk_disable(world: World) -> Outcome:
    body = {"user_ids": [str(world.ann.id)]}
    response = world.as_owner("POST", "/users/bulk-disable", json=body)
    assert response.status_code == 202, response.text
    world.run_jobs()
    return [world.token, world.key], [world.robot]


def bulk_offboard(world: World) -> Outcome:
    body = {"user_ids": [str(world.ann.id)], "offboard": True}
    response = world.as_owner("POST", "/users/bulk-disable", json=body)
    assert response.status_code == 202, response.text
    world.run_jobs()
    return [world.token, world.key, world.robot], []


def change_password(world: World) -> Outcome:
    session = ann_login(world).json()["access_token"]
    response = world.client.patch(
        "/me/password",
        headers=bearer(session),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text
    used = Credential("the token that changed the password", bearer(session), "/me")
    return [world.token, used], [world.key]


def reset_factors(world: World) -> Outcome:
    response = world.as_owner("POST", f"/users/{world.ann.id}/factors/reset")
    assert response.status_code == 200, response.text
    # As a password change: the user's API keys are credentials of their own.
    return [world.token], [world.key]


def reuse_a_code(world: World) -> Outcome:
    register_client(world.db)
    pkce = Pkce.new()
    page = world.client.get("/authorize", params=authorize_params(pkce, tenant="acme", scope="me"))
    assert page.status_code == 200, page.text
    fields = form_fields(page) | {"email": "ann@acme.test", "password": DEFAULT_PASSWORD}
    answer = world.client.post("/authorize", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    code = query_of(answer.headers["location"])["code"]
    first = exchange(world.client, code, pkce)
    assert first.status_code == 200, first.text
    # The code came back: someone else holds it, so nothing of ann's session stands.
    assert exchange(world.client, code, pkce).status_code == 400
    issued = Credential("the token the code gave", bearer(first.json()["access_token"]), "/me")
    return [world.token, issued], [world.key]


def unassign(world: World) -> Outcome:
    response = world.as_owner("DELETE", f"/users/{world.ann.id}/roles/{world.reader.id}")
    assert response.status_code == 204, response.text
    return [world.token], [world.robot]


def edit_role(world: World) -> Outcome:
    response = world.as_owner("PATCH", f"/roles/{world.reader.id}", json={"scopes": []})
    assert response.status_code == 200, response.text
    return [world.token, world.robot], [world.key]


def delete_role(world: World) -> Outcome:
    response = world.as_owner("DELETE", f"/roles/{world.reader.id}")
    assert response.status_code == 204, response.text
    return [world.token, world.robot], [world.key]


def give_grant_an_expiry(world: World) -> Outcome:
    # ann's token outlives the hour: it was issued while the grant was for good.
    expires_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = world.as_owner(
        "PUT", f"/users/{world.ann.id}/roles/{world.reader.id}", json={"expires_at": expires_at}
    )
    assert response.status_code == 200, response.text
    return [world.token], [world.key, world.robot]


def disable_inactive(world: World) -> Outcome:
    # Time passes: ann has not logged in for longer than the tenant allows.
    long_ago = datetime.now(UTC) - timedelta(days=INACTIVITY_DAYS + 1)
    world.db.execute(
        update(User)
        .where(User.tenant_id == world.tenant.id)
        .values(last_login_at=long_ago, created_at=long_ago)
    )
    world.db.commit()
    world.sweep("disable_inactive_users")
    return [world.token, world.key], []


def revoke_service_account(world: World) -> Outcome:
    response = world.as_owner("DELETE", f"/service-accounts/{world.robot_id}")
    assert response.status_code == 204, response.text
    return [world.robot], [world.token, world.key]


def revoke_api_key(world: World) -> Outcome:
    response = world.as_owner("DELETE", f"/api-keys/{world.key_id}")
    assert response.status_code == 204, response.text
    return [world.key], [world.token, world.robot]


def suspend_tenant(world: World) -> Outcome:
    response = world.client.post(
        f"/tenants/{world.tenant.id}/suspend", headers=bearer(world.operator_token)
    )
    assert response.status_code == 200, response.text
    return [world.token, world.key, world.robot], []


def reactivate_tenant(world: World) -> Outcome:
    refused, _ = suspend_tenant(world)
    assert [world.call(credential) for credential in refused] == [401] * len(refused)
    response = world.client.post(
        f"/tenants/{world.tenant.id}/reactivate", headers=bearer(world.operator_token)
    )
    assert response.status_code == 200, response.text
    # The access tokens are let back at once; nothing remembers the suspension.
    return [], [world.token, world.key, world.robot]


def issue_token_at(world: World, user: User) -> str:
    codec = world.runtime.tokens
    return codec.issue(
        user_id=user.id, tenant_id=user.tenant_id, scope="me", token_version=user.token_version
    ).token


def ann_token(world: World) -> str:
    response = ann_login(world)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass(frozen=True)
class Change:
    reason: Reason | None
    act: Callable[[World], Outcome]


# Every path that changes a standing, by the reason services.cutoff is given (None: an
# API key, which is read afresh on every use).
CHANGES = {
    "disable a user": Change(Reason.DISABLED, disable),
    "enable a user": Change(Reason.ENABLED, enable),
    "delete a user": Change(Reason.DELETED, delete),
    "offboard a user (job)": Change(Reason.OFFBOARDED, offboard),
    "bulk disable (job)": Change(Reason.DISABLED, bulk_disable),
    "bulk offboard (job)": Change(Reason.OFFBOARDED, bulk_offboard),
    "change one's password": Change(Reason.PASSWORD_CHANGED, change_password),
    "reset a user's factors": Change(Reason.FACTORS_RESET, reset_factors),
    "reuse an authorization code": Change(Reason.CODE_REUSED, reuse_a_code),
    "take a role back": Change(Reason.SCOPES_REDUCED, unassign),
    "give a grant an expiry": Change(Reason.SCOPES_REDUCED, give_grant_an_expiry),
    "take a scope from a role": Change(Reason.SCOPES_REDUCED, edit_role),
    "delete a role": Change(Reason.SCOPES_REDUCED, delete_role),
    "disable the inactive (sweep)": Change(Reason.DISABLED, disable_inactive),
    "revoke a service account": Change(Reason.SERVICE_ACCOUNT_REVOKED, revoke_service_account),
    "revoke an API key": Change(None, revoke_api_key),
    "suspend the tenant": Change(Reason.TENANT_SUSPENDED, suspend_tenant),
    "reactivate the tenant": Change(Reason.TENANT_REACTIVATED, reactivate_tenant),
}


def test_every_reason_for_a_cut_off_has_a_path_here() -> None:
    assert {change.reason for change in CHANGES.values()} - {None} == set(Reason)


@pytest.mark.parametrize("name", list(CHANGES))
def test_the_change_ends_live_access_at_once(name: str, world: World) -> None:
    everyone = [world.token, world.key, world.robot]
    # Each is remembered by the app now: a stale memory would let it through.
    assert {c.name: world.call(c) for c in everyone} == {c.name: 200 for c in everyone}
    cursor = world.runtime.effects.standings.cursor()
    refused, admitted = CHANGES[name].act(world)
    # Resource servers hear of it too: the change is on the standings feed.
    feed = world.runtime.effects.standings
    published = {c["reason"] for c in changes_after(world.runtime.redis, feed, cursor)}
    reason = CHANGES[name].reason
    assert published >= ({reason.value} if reason else set())
    assert {c.name: world.call(c) for c in refused + admitted} == {
        **{c.name: 401 for c in refused},
        **{c.name: 200 for c in admitted},
    }
