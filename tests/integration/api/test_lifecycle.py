"""Lifecycle jobs through HTTP, run in-process; sweeps and the preview that mirrors them."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import (
    ApiKey,
    AuditEvent,
    AuthorizationCode,
    Grant,
    Job,
    JobStatus,
    LoginSession,
    RefreshToken,
    ServiceAccount,
    Tenant,
    User,
    UserStatus,
)
from backend.domain.scopes import TENANT_SCOPES
from backend.main import create_app
from backend.services import job_runner, sweeps
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import (
    DEFAULT_PASSWORD as PASSWORD,
)
from tests.factories import (
    ApiKeyFactory,
    AuthorizationCodeFactory,
    LoginSessionFactory,
    RefreshTokenFactory,
    ServiceAccountFactory,
    TenantFactory,
    UserFactory,
)
from tests.support.cursors import raw_cursor

IssueToken = Callable[..., str]
NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def owner(db: Session) -> User:
    tenant = TenantFactory(slug="acme", policy={"inactivity_days": 30})
    user = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    return user


@pytest.fixture
def token(owner: User, issue_token: IssueToken) -> str:
    return issue_token(owner, sorted(TENANT_SCOPES))


def run_job(sessions: sessionmaker[Session], effects: Effects, owner: User, job_id: str) -> None:
    job_runner.run(sessions, effects, owner.tenant_id, uuid.UUID(job_id), chunk=2)


def test_bulk_disable_by_last_login_in_batches(
    client: TestClient,
    owner: User,
    token: str,
    db: Session,
    effects: Effects,
    sessions: sessionmaker[Session],
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    idle = [
        UserFactory(tenant_id=owner.tenant_id, tenant=None, last_login_at=old) for _ in range(5)
    ]
    fresh = UserFactory(tenant_id=owner.tenant_id, tenant=None, last_login_at=datetime.now(UTC))
    db.commit()
    cutoff = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    response = client.post(
        "/users/bulk-disable", headers=bearer(token), json={"last_login_before": cutoff}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": 5}

    run_job(sessions, effects, owner, body["id"])
    run_job(sessions, effects, owner, body["id"])  # a redelivery: must change nothing more
    done = client.get(f"/jobs/{body['id']}", headers=bearer(token)).json()
    assert done["status"] == "succeeded"
    assert done["progress"] == {"done": 5, "total": 5}
    assert done["result"] == {"disabled": 5, "skipped_owners": 0}
    db.expire_all()
    assert {db.get_one(User, (u.tenant_id, u.id)).status for u in idle} == {UserStatus.DISABLED}
    assert db.get_one(User, (fresh.tenant_id, fresh.id)).status is UserStatus.ACTIVE
    audits = db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.disabled")
    )
    assert audits == 5


@pytest.mark.parametrize(
    "body",
    [{}, {"all_users": True, "user_ids": [str(uuid.uuid4())]}, {"user_ids": []}],
    ids=["nothing", "all-and-ids", "empty-ids"],
)
def test_bulk_disable_needs_one_clear_selection(
    client: TestClient, token: str, body: dict[str, object]
) -> None:
    assert client.post("/users/bulk-disable", headers=bearer(token), json=body).status_code == 422


def test_offboarding_the_last_owner_is_refused(client: TestClient, owner: User, token: str) -> None:
    response = client.post(f"/users/{owner.id}/offboard", headers=bearer(token))
    assert response.status_code == 409


def test_jobs_list_newest_first_with_cursor(
    client: TestClient, owner: User, token: str, db: Session
) -> None:
    for _ in range(3):
        assert (
            client.post(
                "/users/bulk-disable", headers=bearer(token), json={"all_users": True}
            ).status_code
            == 202
        )
    first = client.get("/jobs?limit=2", headers=bearer(token)).json()
    second = client.get(
        f"/jobs?limit=2&cursor={first['next_cursor']}", headers=bearer(token)
    ).json()
    ids = [j["id"] for j in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3
    created = [j["created_at"] for j in first["items"] + second["items"]]
    assert created == sorted(created, reverse=True)
    assert client.get("/jobs?cursor=bad!", headers=bearer(token)).status_code == 400


def test_an_exact_last_page_of_jobs_has_no_cursor(
    client: TestClient, owner: User, token: str
) -> None:
    """A page says there is a next one only when there is: no empty page at the end."""
    for _ in range(2):
        body = {"all_users": True}
        assert (
            client.post("/users/bulk-disable", headers=bearer(token), json=body).status_code == 202
        )
    page = client.get("/jobs?limit=2", headers=bearer(token)).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        (raw_cursor(["users", "a@acme.test", NIL]), "not one of the jobs listing's"),
        (raw_cursor(["jobs", "\ud800", NIL]), "its created_at is not a date-time with a time zone"),
        (raw_cursor(["jobs", "2026-01-01T00:00:00Z", "\ud800"]), "its id is not a UUID"),
    ],
    ids=["another-listing", "lone-surrogate-moment", "lone-surrogate-id"],
)
def test_a_bad_jobs_cursor_is_400_with_the_reason(
    client: TestClient, token: str, cursor: str, reason: str
) -> None:
    response = client.get("/jobs", headers=bearer(token), params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error_description"] == f"cursor is not valid: {reason}"


def test_a_failing_job_records_its_error(
    client: TestClient,
    owner: User,
    token: str,
    db: Session,
    effects: Effects,
    sessions: sessionmaker[Session],
) -> None:
    job = Job(tenant_id=owner.tenant_id, kind="no_such_kind", requested_by="test")
    db.add(job)
    db.commit()
    job_runner.run(sessions, effects, owner.tenant_id, job.id, chunk=10)
    failed = client.get(f"/jobs/{job.id}", headers=bearer(token)).json()
    assert failed["status"] == "failed"
    assert "no_such_kind" in failed["error"]


def test_job_is_queued_even_when_redis_is_down(
    owner: User, token: str, db: Session, settings: Settings
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down)) as client:
        response = client.post(
            "/users/bulk-disable", headers=bearer(token), json={"all_users": True}
        )
    assert response.status_code == 202
    db.expire_all()
    job = db.get_one(Job, (owner.tenant_id, uuid.UUID(response.json()["id"])))
    assert job.status is JobStatus.QUEUED


def test_preview_shows_exactly_what_the_sweeps_then_do(
    client: TestClient,
    owner: User,
    token: str,
    db: Session,
    effects: Effects,
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    idle = UserFactory(
        tenant_id=owner.tenant_id, tenant=None, email="idle@acme.test",
        last_login_at=now - timedelta(days=31),
    )  # fmt: skip
    locked = UserFactory(
        tenant_id=owner.tenant_id, tenant=None, locked_until=now - timedelta(minutes=1),
        failed_logins=5,
    )  # fmt: skip
    granted = UserFactory(tenant_id=owner.tenant_id, tenant=None)
    tenant = db.get_one(Tenant, owner.tenant_id)
    db.add(
        Grant(
            tenant_id=tenant.id,
            user_id=granted.id,
            role_id=builtin_role(db, tenant, "auditor").id,
            expires_at=now - timedelta(seconds=5),
        )
    )
    family = LoginSessionFactory(user=granted, expires_at=now - timedelta(seconds=5))
    RefreshTokenFactory(family=family)
    AuthorizationCodeFactory(user=granted, expires_at=now - timedelta(hours=2))
    recent_code = AuthorizationCodeFactory(user=granted, expires_at=now - timedelta(minutes=5))
    db.commit()
    recent_id = recent_code.id

    preview = client.get("/lifecycle/preview", headers=bearer(token))
    assert preview.status_code == 200, preview.text
    due = preview.json()["sweeps"]
    assert [d["subject"] for d in due["disable_inactive_users"]] == [f"user:{idle.id}"]
    assert "30 days" in due["disable_inactive_users"][0]["reason"]
    assert [d["subject"] for d in due["lift_lockouts"]] == [f"user:{locked.id}"]
    assert [d["subject"] for d in due["expire_role_grants"]] == [f"user:{granted.id}"]
    assert [d["subject"] for d in due["expire_sessions"]] == [f"user:{granted.id}"]
    assert [d["subject"] for d in due["purge_authorization_codes"]] == [f"user:{granted.id}"]
    # The owner idles too, but a tenant keeps its owners.
    assert f"user:{owner.id}" not in str(due)

    for name in sweeps.SWEEPS:
        sweeps.run(sessions, effects, name, chunk=1)
    after = client.get("/lifecycle/preview", headers=bearer(token)).json()["sweeps"]
    assert all(rows == [] for rows in after.values()), after
    db.expire_all()
    assert db.get_one(User, (idle.tenant_id, idle.id)).status is UserStatus.DISABLED
    assert db.get_one(User, (locked.tenant_id, locked.id)).locked_until is None
    # Tidying only: no access token outlived the grant, so the sweep cuts nobody off.
    assert db.get_one(User, (granted.tenant_id, granted.id)).token_version == 1
    assert db.scalars(select(Grant).where(Grant.user_id == granted.id)).all() == []
    # A code expired a moment ago stays, to tell a late replay from an unknown code.
    codes = db.scalars(select(AuthorizationCode.id)).all()
    assert codes == [recent_id]


def test_lifting_lockouts_resets_the_count_of_a_lock_but_not_of_a_pause(
    db: Session, effects: Effects, sessions: sessionmaker[Session]
) -> None:
    tenant = TenantFactory(slug="acme", policy={"lockout_threshold": 10, "throttle_after": 3})
    ended = datetime.now(UTC) - timedelta(seconds=1)
    was_locked = UserFactory(tenant=tenant, failed_logins=10, locked_until=ended)
    was_paused = UserFactory(tenant=tenant, failed_logins=4, locked_until=ended)
    db.commit()
    sweeps.run(sessions, effects, "lift_lockouts", chunk=10)
    db.expire_all()
    # A pause that ran out keeps its count, so the next wrong password pauses for
    # twice as long; a lock that ran out starts a fresh one.
    assert [
        (user.failed_logins, user.locked_until)
        for user in (db.get_one(User, (u.tenant_id, u.id)) for u in (was_locked, was_paused))
    ] == [(0, None), (4, None)]


def test_sweeps_leave_tenants_without_the_policy_alone(
    owner: User, db: Session, effects: Effects, sessions: sessionmaker[Session]
) -> None:
    quiet = TenantFactory(slug="quiet")
    sleeper = UserFactory(tenant=quiet, last_login_at=datetime.now(UTC) - timedelta(days=3000))
    db.commit()
    sweeps.run(sessions, effects, "disable_inactive_users", chunk=10)
    db.expire_all()
    assert db.get_one(User, (sleeper.tenant_id, sleeper.id)).status is UserStatus.ACTIVE


def test_bulk_offboard_ends_every_session_and_audits_each_user_once(
    client: TestClient,
    owner: User,
    token: str,
    db: Session,
    effects: Effects,
    sessions: sessionmaker[Session],
) -> None:
    leavers = [UserFactory(tenant_id=owner.tenant_id, tenant=None) for _ in range(4)]
    for leaver in leavers:
        family = LoginSessionFactory(user=leaver)
        RefreshTokenFactory(family=family, used_at=datetime.now(UTC))
        RefreshTokenFactory(family=family)
    account = ServiceAccountFactory(tenant=db.get_one(Tenant, owner.tenant_id))
    account.created_by = leavers[0].id
    ApiKeyFactory(creator=leavers[0])
    # Disabled before: offboarding still ends their session; with nothing left, no event.
    dormant = UserFactory(tenant_id=owner.tenant_id, tenant=None, status=UserStatus.DISABLED)
    RefreshTokenFactory(family=LoginSessionFactory(user=dormant))
    gone = UserFactory(tenant_id=owner.tenant_id, tenant=None, status=UserStatus.DISABLED)
    owners_session = LoginSessionFactory(user=owner)
    # Logged in for real, so the refresh grant itself shows the session is over.
    member = UserFactory(tenant_id=owner.tenant_id, tenant=None, email="mia@acme.test")
    db.commit()
    grant = client.post(
        "/token",
        data={"grant_type": "password", "username": "acme/mia@acme.test", "password": PASSWORD},
    )
    assert grant.status_code == 200, grant.text
    refresh_token = grant.json()["refresh_token"]

    response = client.post(
        "/users/bulk-disable",
        headers=bearer(token),
        json={"all_users": True, "offboard": True, "reason": "contract ended"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "bulk_offboard"
    assert response.json()["progress"] == {"done": 0, "total": 7}
    run_job(sessions, effects, owner, response.json()["id"])  # two users per batch
    run_job(
        sessions, effects, owner, response.json()["id"]
    )  # a redelivery: must change nothing more

    done = client.get(f"/jobs/{response.json()['id']}", headers=bearer(token)).json()
    assert done["status"] == "succeeded"
    assert done["result"] == {"offboarded": 6, "skipped_owners": 1}
    assert done["progress"] == {"done": 6, "total": 7}
    db.expire_all()
    changed = [*leavers, dormant, member]
    assert {db.get_one(User, (u.tenant_id, u.id)).status for u in changed} == {UserStatus.DISABLED}
    assert db.get_one(User, (owner.tenant_id, owner.id)).status is UserStatus.ACTIVE
    live = db.scalars(select(LoginSession.id).where(LoginSession.revoked_at.is_(None))).all()
    assert live == [owners_session.id]
    assert db.scalars(
        select(RefreshToken.revoked_reason).where(RefreshToken.user_id != owner.id).distinct()
    ).all() == ["offboarded"]
    assert db.scalars(select(ServiceAccount.revoked_at)).one() is not None
    assert db.scalars(select(ApiKey.revoked_at)).one() is not None
    refused = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert refused.json()["error"] == "invalid_grant"

    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "user.offboarded")).all()
    assert sorted(e.target for e in events) == sorted(f"user:{u.id}" for u in changed)
    assert f"user:{gone.id}" not in {e.target for e in events}
    by_target = {e.target: e.data for e in events}
    assert by_target[f"user:{leavers[0].id}"] == {
        "reason": "contract ended",
        "before": {"status": "active"},
        "after": {"status": "disabled"},
        "sessions_revoked": 1,
        "service_accounts_revoked": 1,
        "api_keys_revoked": 1,
    }
    assert by_target[f"user:{dormant.id}"]["before"] == {"status": "disabled"}


def test_a_sweep_over_more_rows_than_a_batch_handles_each_once(
    owner: User, db: Session, effects: Effects, sessions: sessionmaker[Session]
) -> None:
    old = datetime.now(UTC) - timedelta(days=90)
    idle = [
        UserFactory(tenant_id=owner.tenant_id, tenant=None, last_login_at=old) for _ in range(7)
    ]
    db.commit()
    assert sweeps.run(sessions, effects, "disable_inactive_users", chunk=3) == 7
    assert sweeps.run(sessions, effects, "disable_inactive_users", chunk=3) == 0
    db.expire_all()
    assert {db.get_one(User, (u.tenant_id, u.id)).status for u in idle} == {UserStatus.DISABLED}
    per_user = db.execute(
        select(AuditEvent.target, func.count())
        .where(AuditEvent.action == "user.disabled")
        .group_by(AuditEvent.target)
    ).all()
    assert sorted(per_user) == sorted((f"user:{u.id}", 1) for u in idle)
